"""Output on every event of a hot probe: the classic way to make a trace hurt the host it observes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.hotness import Hotness, hotness
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext

OUTPUT_CALLS = frozenset({"printf", "print", "time", "join", "cat", "system"})
_SEVERITY = {"very_high": Severity.high, "high": Severity.medium}


class HotProbeOutputRule(SafetyRule):
    id: ClassVar[str] = "hot-probe-output"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Printing on every event of a high-frequency probe (sched_switch, raw_syscalls, irq, ...) emits "
        "hundreds of thousands of lines a second: events are lost, the host slows down and the output is "
        "too big to read."
    )
    fix: ClassVar[str] = (
        "Aggregate in a map and let it print at exit (@[comm] = count(); @us = hist($d)), or filter first "
        '(/pid == 1234/, /comm == "nginx"/, if ($d > 1000000) { ... }).'
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        for probe in program.probes:
            if probe.predicate is not None:
                continue
            hottest: tuple[str, Hotness] | None = None
            for spec in probe.specs:
                heat = hotness(spec)
                if hottest is None or heat.rank > hottest[1].rank:
                    hottest = (spec.text, heat)
            if hottest is None or hottest[1].level not in _SEVERITY:
                continue
            spec_text, heat = hottest
            for call in probe.unconditional_calls():
                if call.name in OUTPUT_CALLS:
                    findings.append(self.finding(
                        f"{call.name}() on every event of {spec_text} ({heat.reason}) without a filter",
                        call, severity=_SEVERITY[heat.level],
                    ))
        return findings
