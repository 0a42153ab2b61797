"""mcptrace's template tools (list_templates, generate_from_template) and its core template pack."""
