"""Entry point of the BCC plugin (``mcptrace`` group, name ``bcc``)."""

from __future__ import annotations

from mcptrace_bcc.backend import BccBackend
from mcptrace_bcc.tools import tool_specs
from mcptrace_core import hookimpl
from mcptrace_core.config import Settings
from mcptrace_core.interfaces import Backend
from mcptrace_core.logging import get_logger
from mcptrace_core.privilege import command_prefix
from mcptrace_core.registry import Registry
from mcptrace_core.tools import ToolSpec

log = get_logger(__name__)


@hookimpl
def mcptrace_backends(settings: Settings) -> list[Backend]:
    return [BccBackend(settings)]


@hookimpl
def mcptrace_tools(settings: Settings, registry: Registry) -> list[ToolSpec]:
    specs = tool_specs()
    if settings.server.exposure == "full":
        from mcptrace_bcc.catalog import BccCatalog
        from mcptrace_bcc.exposure import per_tool_specs
        from mcptrace_bcc.guard import refused_outright

        known = BccCatalog(settings.bcc, lambda: command_prefix(settings.privilege)).cached()
        if not known:
            log.warning("no BCC tool is known yet, so none has its own MCP tool: `mcptrace bcc list` learns them")
        specs += per_tool_specs(known, lambda tool: refused_outright(tool, settings, registry))
    return specs
