"""Entry point of the analyzers plugin (``mcptrace`` group, name ``analyzers``)."""

from __future__ import annotations

from mcptrace_analyzers.analyzers import builtin_analyzers
from mcptrace_analyzers.tool import tool_spec
from mcptrace_core import hookimpl
from mcptrace_core.interfaces import Analyzer
from mcptrace_core.tools import ToolSpec


@hookimpl
def mcptrace_analyzers() -> list[Analyzer]:
    return builtin_analyzers()


@hookimpl
def mcptrace_tools() -> list[ToolSpec]:
    return [tool_spec()]
