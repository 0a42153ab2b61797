"""The discover_probes tool."""

from __future__ import annotations

from mcptrace_core.tools import ToolCall, ToolSpec

from mcptrace_knowledge.discover import DiscoveryEngine
from mcptrace_knowledge.models import DiscoverInput, DiscoverResult

DESCRIPTION = (
    "Find the probes on THIS host that fit a goal, ranked by meaning and by words over mcptrace's "
    "documentation of 500+ probes and the names of every probe here. Results are grouped by subsystem; each says "
    "what fires it, why it fits, its fields with this host's types, whether it exists and works here, and its "
    "companions (enter/exit, wakeup/switch...), with suggested combinations. Probes that cannot run here (e.g. "
    "kprobes) come with a tracepoint alternative. Then write a program and check it with validate_program."
)


def discover_spec(engine: DiscoveryEngine) -> ToolSpec:
    async def discover_probes(call: ToolCall, args: DiscoverInput) -> DiscoverResult:
        return await engine.discover(call.services, args.goal, args.probe_types, args.limit)

    return ToolSpec(
        name="discover_probes",
        title="Discover probes for a goal",
        description=DESCRIPTION,
        input_model=DiscoverInput,
        output_model=DiscoverResult,
        handler=discover_probes,
        warm=engine.prepare,
    )
