"""Entry point of the knowledge plugin (``mcptrace`` group, name ``knowledge``).

Contributes discover_probes, the probe documentation and guides as MCP resources, and the "trace"
prompt. Each registry gets its own engine, so the indexes live exactly as long as the server or
command that loaded the plugin.
"""

from __future__ import annotations

from typing import Any

from mcptrace_core import hookimpl

from mcptrace_knowledge.discover import DiscoveryEngine
from mcptrace_knowledge.prompts import prompt_specs
from mcptrace_knowledge.resources import resource_specs
from mcptrace_knowledge.tools import discover_spec


@hookimpl
def mcptrace_tools() -> list[Any]:
    engine = DiscoveryEngine()
    return [discover_spec(engine), *resource_specs(engine), *prompt_specs()]
