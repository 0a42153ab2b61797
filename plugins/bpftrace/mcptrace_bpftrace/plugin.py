"""Entry point of the bpftrace plugin (``mcptrace`` group, name ``bpftrace``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings
from mcptrace_core.interfaces import Backend
from mcptrace_core.tools import ToolSpec

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.tools import tool_specs


@hookimpl
def mcptrace_backends(settings: Settings) -> list[Backend]:
    return [BpftraceBackend(settings)]


@hookimpl
def mcptrace_tools() -> list[ToolSpec]:
    return tool_specs()
