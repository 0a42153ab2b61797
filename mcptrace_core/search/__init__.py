"""Search by meaning and by name over every capability: examples, templates, BCC tools, MCP tools.

``capability`` says what is indexed and how providers add to it; ``vectors`` and ``lexical`` are the
two halves of the index; ``host`` says what runs here; ``ranking`` fuses the signals; ``engine`` ties
them together for a server; ``tools`` exposes search_examples and find_capabilities.
"""
