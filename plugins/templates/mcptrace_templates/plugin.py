"""Entry point ``templates``: the template tools, and in full exposure one tool per template."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings
from mcptrace_core.registry import Registry
from mcptrace_core.tools import ToolSpec

from mcptrace_templates.tools import template_tools, tool_specs


@hookimpl
def mcptrace_tools(settings: Settings, registry: Registry) -> list[ToolSpec]:
    specs = tool_specs()
    if settings.server.exposure == "full":
        from mcptrace_core.templates.catalog import TemplateCatalog  # only full mode needs the templates at start

        specs += template_tools(TemplateCatalog.from_registry(registry))
    return specs
