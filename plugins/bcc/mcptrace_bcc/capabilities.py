"""The BCC tools as capabilities of the search index, so find_capabilities finds them by meaning.

Each tool becomes a ``Capability`` of kind 'bcc_tool': its text is what the tool says it does, its
options and its examples (in its own words, read from this host); it is runnable when its trial run
attached here, and otherwise ``missing`` says why.

The index reads the disk caches only (a few ms): learning the catalog runs every tool (~20 s the
first time), which a search must not wait for. On a fresh install the caches are empty, so the index
has no BCC tools until something learns them: ``mcptrace index build`` does first
(``prepare_capabilities``), as do ``mcptrace bcc list`` and the list_bcc_tools tool, which also make
a running server's index take them in (``SearchEngine.invalidate``).
"""

from __future__ import annotations

from mcptrace_bcc.catalog import BccTool
from mcptrace_core.search.capability import Capability

MAX_TEXT_CHARS = 2000
MAX_MISSING_CHARS = 200


def tool_capability(tool: BccTool) -> Capability:
    schema = tool.schema
    options = "; ".join(f"{option.name}: {option.help}" for option in schema.options if option.help)
    positionals = "; ".join(f"{p.name}: {p.help or p.value}" for p in schema.positionals)
    text = " ".join(part for part in (
        schema.description,
        f"Options: {options}." if options else "",
        f"Arguments: {positionals}." if positionals else "",
        ("Examples: " + "; ".join(schema.examples[:6]) + ".") if schema.examples else "",
    ) if part)
    usable = tool.usability.usable is True
    return Capability(
        kind="bcc_tool",
        id=tool.name,
        title=f"{tool.name}: {schema.description or 'BCC tool'}"[:160],
        text=text[:MAX_TEXT_CHARS],
        source="bcc",
        identifiers=tuple(sorted({tool.name, tool.file.base_name})),
        usage=f"exec_bcc_tool(tool_name={tool.name!r}, arguments={{...}}); list_bcc_tools(query={tool.name!r}) "
        "lists its options",
        missing=() if usable else (tool.usability.reason[:MAX_MISSING_CHARS],),
        item=tool,
    )
