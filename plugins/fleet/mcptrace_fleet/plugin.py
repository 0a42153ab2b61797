"""Entry point of the fleet plugin (``mcptrace`` group, name ``fleet``): the same trace on many hosts over SSH."""

from __future__ import annotations

from typing import Any

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings
from mcptrace_core.extensions import ToolExtension


@hookimpl
def mcptrace_tool_extensions(settings: Settings) -> list[ToolExtension]:
    from mcptrace_fleet.state import FleetState
    from mcptrace_fleet.tools import extensions

    return extensions(FleetState(settings))


@hookimpl
def mcptrace_cli_commands() -> list[Any]:
    from mcptrace_fleet.cli import fleet

    return [fleet]
