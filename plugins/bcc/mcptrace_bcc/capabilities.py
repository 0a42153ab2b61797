"""The BCC tools as capabilities for the search index, so find_capabilities finds them by meaning.

Each capability has an id, a title, a text to embed (what the tool does, its options and examples in
the tool's own words, read from the host) and metadata that says how to call it and whether it runs here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcptrace_bcc.backend import BccBackend
from mcptrace_bcc.catalog import BccTool

MAX_TEXT_CHARS = 2000


@dataclass(frozen=True)
class Capability:
    id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


async def bcc_capabilities(backend: BccBackend) -> list[Capability]:
    """Every installed BCC tool as a capability (learns the catalog first if this boot has not)."""
    return [tool_capability(tool) for tool in await backend.catalog.all()]


def tool_capability(tool: BccTool) -> Capability:
    schema = tool.schema
    options = "; ".join(f"{option.name}: {option.help}" for option in schema.options if option.help)
    positionals = "; ".join(f"{p.name}: {p.help or p.value}" for p in schema.positionals)
    text = " ".join(part for part in (
        f"{tool.file.base_name} ({tool.file.kind} BCC tool): {schema.description}",
        f"Options: {options}." if options else "",
        f"Arguments: {positionals}." if positionals else "",
        ("Examples: " + "; ".join(schema.examples[:6]) + ".") if schema.examples else "",
    ) if part)
    return Capability(
        id=f"bcc:{tool.name}",
        title=f"{tool.name}: {schema.description or 'BCC tool'}"[:160],
        text=text[:MAX_TEXT_CHARS],
        metadata={
            "kind": "bcc_tool",
            "tool_name": tool.name,
            "tool_kind": tool.file.kind,
            "usable_here": tool.usability.usable,
            "reason": tool.usability.reason,
            "call": {"tool": "exec_bcc_tool", "arguments": {"tool_name": tool.name}},
        },
    )
