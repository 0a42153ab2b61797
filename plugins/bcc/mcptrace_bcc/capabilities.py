"""The BCC tools as capabilities of the search index, so find_capabilities finds them by meaning.

Each tool becomes a ``Capability`` of kind 'bcc_tool', one per tool whatever its builds (the one that
runs here is offered): its text is what the tool says it is for, in its own words read from this host
(its manual page, else its --help), not its options, which list_bcc_tools gives and which would only
blur its meaning. It is runnable when its trial run attached here; otherwise ``missing`` says why.

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


def tool_capabilities(tools: list[BccTool]) -> list[Capability]:
    """One capability per tool, whatever its builds: the libbpf one and the Python one of execsnoop
    answer the same question, so the index offers the build that runs here (libbpf first). Tools that
    one manual page describes alike are one capability too: their texts could not tell them apart."""
    builds: dict[str, list[BccTool]] = {}
    for tool in tools:
        builds.setdefault(tool.file.base_name, []).append(tool)
    alike: dict[str, list[BccTool]] = {}  # tools one manual page describes (ucalls as pythoncalls, rubycalls...)
    for base_name, same in builds.items():
        manual = next((build.schema.manual for build in same if build.schema.manual), "")
        alike.setdefault(manual or base_name, []).extend(same)
    return [_capability(same) for same in alike.values()]


def _capability(builds: list[BccTool]) -> Capability:
    tool = next((build for build in builds if build.usability.usable), builds[0])
    description = tool.schema.description
    manual = next((build.schema.manual for build in [tool, *builds] if build.schema.manual), "")
    usable = tool.usability.usable is True
    return Capability(
        kind="bcc_tool",
        id=tool.name,
        title=f"{tool.name}: {description or manual or 'BCC tool'}"[:160],
        text=(manual or description)[:MAX_TEXT_CHARS],
        source="bcc",
        identifiers=tuple(sorted({tool.file.base_name, *(build.name for build in builds)})),
        usage=f"exec_bcc_tool(tool_name={tool.name!r}, arguments={{...}}); list_bcc_tools(query={tool.name!r}) "
        "gives its options",
        missing=() if usable else (tool.usability.reason[:MAX_MISSING_CHARS],),
        item=tool,
    )
