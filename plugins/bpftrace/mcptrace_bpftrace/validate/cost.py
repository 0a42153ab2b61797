"""Layer 6: what a run will cost the host, estimated before it runs."""

from __future__ import annotations

from collections.abc import Sequence

from mcptrace_core.program.hotness import HOTNESS_ORDER, hotness
from mcptrace_core.program.ir import Program
from mcptrace_core.safety.models import CostEstimate, ProbeCount

from mcptrace_bpftrace.backend import DETACH_S_PER_PROBE

DETACHED_TYPES = frozenset({"tracepoint", "kprobe", "kretprobe", "kfunc", "kretfunc", "uprobe", "uretprobe", "usdt",
                            "rawtracepoint"})
"""Probe types whose detach is what makes stopping slow (~75 ms each)."""
HEAVY_CALLS = frozenset({"printf", "print", "time", "join", "cat", "system", "str", "buf", "kstack", "ustack",
                         "path", "ksym", "usym"})
"""Per-event work that costs far more than updating a map."""
MANY_PROBES = 100
SOME_PROBES = 10


def estimate_cost(program: Program, probes: Sequence[ProbeCount]) -> CostEstimate:
    counts = [probe.count for probe in probes]
    attached = None if any(count is None for count in counts) else sum(counts)  # type: ignore[misc]
    detached = sum(probe.count or 0 for probe in probes if probe.type in DETACHED_TYPES)
    hottest_spec, heat = None, None
    for spec in program.specs:
        candidate = hotness(spec)
        if heat is None or candidate.rank > heat.rank:
            hottest_spec, heat = spec, candidate
    level = heat.level if heat is not None else HOTNESS_ORDER[0]
    reason_hot = f"{hottest_spec.text} {heat.reason}" if heat is not None and hottest_spec is not None else "no probes"
    heavy = _heavy_work_on_hottest(program, hottest_spec.text if hottest_spec else None)
    label, reason = "low", f"{attached if attached is not None else 'an unknown number of'} probes; {reason_hot}"
    if attached is not None and attached > MANY_PROBES:
        label, reason = "high", f"{attached} probes attached (detaching alone takes {detached * DETACH_S_PER_PROBE:.0f} s)"
    elif level == "very_high":
        label = "high" if heavy else "medium"
        reason = f"{reason_hot}" + (f", and it runs {heavy}() on each event" if heavy else "; it only updates maps")
    elif level == "high" or (attached is not None and attached > SOME_PROBES):
        label = "medium"
    return CostEstimate(
        attached_probes=attached,
        hotness=level,
        hotness_reason=reason_hot,
        expected_detach_s=round(detached * DETACH_S_PER_PROBE, 2),
        label=label,
        reason=reason,
    )


def _heavy_work_on_hottest(program: Program, spec_text: str | None) -> str | None:
    """The first costly call of the probe holding the hottest spec, if it has no predicate."""
    for probe in program.probes:
        if spec_text in (spec.text for spec in probe.specs) and probe.predicate is None:
            return next((call.name for call in probe.unconditional_calls() if call.name in HEAVY_CALLS), None)
    return None
