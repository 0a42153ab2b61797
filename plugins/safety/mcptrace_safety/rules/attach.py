"""How much a program attaches and how often its timed probes fire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.probespec import KERNEL_FUNCTION_TYPES, USER_TYPES, ProbeSpec
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext

MIN_LITERAL_CHARS = 4
"""A function wildcard with fewer literal characters than this ('*', 'vfs*') may match thousands."""


class WildcardAttachRule(SafetyRule):
    id: ClassVar[str] = "wildcard-attach"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Every attached probe costs on each hit and ~75 ms to detach; kprobe:* once made a 32-core machine "
        "unusable. Wide wildcards also hit bpftrace's BPFTRACE_MAX_PROBES limit."
    )
    fix: ClassVar[str] = (
        "Narrow the wildcard to the functions or tracepoints that answer the question (list_probes shows "
        "what a pattern matches), or use one tracepoint that covers the event."
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        counted = [(spec, context.count(spec)) for spec in program.specs]
        known = [(spec, count) for spec, count in counted if count is not None]
        total = sum(count for _, count in known)
        findings = [self._uncounted(spec) for spec, count in counted if count is None and _unbounded(spec)]
        confirm_over = context.threshold("attach_confirm_over")
        block_over = context.threshold("attach_block_over")
        if known and total > confirm_over:
            biggest, count = max(known, key=lambda item: item[1])
            severity = Severity.critical if total > block_over else Severity.high
            limit = block_over if total > block_over else confirm_over
            findings.append(self.finding(
                f"the program attaches {total} probes ({biggest.text} alone {count}); the policy's limit is {limit:g}",
                biggest, severity=severity,
            ))
        return findings

    def _uncounted(self, spec: ProbeSpec) -> Finding:
        return self.finding(
            f"{spec.text} may match tens of thousands of functions and cannot be counted here",
            spec, severity=Severity.critical,
        )


def _unbounded(spec: ProbeSpec) -> bool:
    """A function wildcard with almost no literal text (kprobe:*, uprobe:/bin/x:*)."""
    if spec.type not in KERNEL_FUNCTION_TYPES | USER_TYPES or not spec.is_wildcard:
        return False
    function = spec.parts[-1] if spec.parts else ""
    return len(function.replace("*", "").replace("?", "")) < MIN_LITERAL_CHARS


EXTREME_FACTOR = 10
"""A rate ten times over the policy's is refused, not just confirmed."""

DISCRETE_SOFTWARE_EVENTS = frozenset({
    "page-faults", "faults", "minor-faults", "major-faults", "context-switches", "cs", "cpu-migrations",
    "migrations", "alignment-faults", "emulation-faults", "dummy", "bpf-output",
})
"""Software events counted one by one: a period of 1 means each event, like a tracepoint, not a sampling
rate. Clock events (cpu-clock, task-clock) count nanoseconds and hardware events count cycles or cache
references, so a small period there really is a very high sampling rate."""


class SamplingFrequencyRule(SafetyRule):
    id: ClassVar[str] = "sampling-frequency"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "A profile probe fires on every CPU at its rate; 99 Hz is the usual choice. Thousands of samples a "
        "second per CPU slow the host and flood the buffers."
    )
    fix: ClassVar[str] = "Sample at 99 Hz (profile:hz:99) and run longer for more samples."

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        max_hz = context.threshold("max_sampling_hz")
        min_period = context.threshold("min_event_period")
        for spec in program.specs:
            if not spec.rate_known:
                findings.append(self.finding(
                    f"{spec.text}: its rate cannot be read (unit and value such as hz:99 or s:1); it may fire at "
                    "any rate", spec, severity=Severity.high,
                    fix="Write the rate as unit:value, e.g. profile:hz:99 or interval:s:1.",
                ))
                continue
            hz = spec.frequency_hz()
            if hz is not None and hz > max_hz:
                where = "on every CPU" if spec.type == "profile" else "on one CPU"
                severity = Severity.high if spec.type == "profile" else Severity.medium
                if hz > EXTREME_FACTOR * max_hz:
                    severity = Severity.critical
                findings.append(self.finding(
                    f"{spec.text} fires {hz:g} times a second {where}; the policy allows {max_hz:g} Hz", spec,
                    severity=severity,
                ))
            period = spec.event_period()
            discrete = spec.type == "software" and spec.parts[0] in DISCRETE_SOFTWARE_EVENTS
            if period is not None and period < min_period and not discrete:
                findings.append(self.finding(
                    f"{spec.text} samples every {period} events on every CPU; the policy's smallest period is "
                    f"{min_period:g}", spec,
                    fix="Use a larger period (the last number), e.g. software:cpu-clock:1000000 for every 1 ms.",
                ))
        return findings
