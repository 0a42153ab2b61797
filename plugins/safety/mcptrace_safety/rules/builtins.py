"""Builtins that change the system instead of observing it: they need bpftrace --unsafe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.builtins import UNSAFE_BUILTINS
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext

# builtin -> (severity, what it does, how to do without it); every one of program.builtins.UNSAFE_BUILTINS.
UNSAFE_EFFECTS: dict[str, tuple[Severity, str, str]] = {
    "system": (
        Severity.high,
        "runs a shell command as root for every event that reaches it",
        "Print what you need with printf() and act on it outside the trace.",
    ),
    "signal": (
        Severity.high,
        "sends a signal to the traced process (it can kill or stop it)",
        "Print the pid with printf() and decide outside the trace.",
    ),
    "override": (
        Severity.critical,
        "changes the return value of a kernel function: it injects errors into the running kernel",
        "Observe the return value with a kretprobe instead; inject faults only on a test machine.",
    ),
}


class UnsafeBuiltinRule(SafetyRule):
    id: ClassVar[str] = "unsafe-builtin"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "system(), signal() and override() act on the host instead of observing it, as root, possibly "
        "thousands of times a second; bpftrace refuses them without --unsafe."
    )
    fix: ClassVar[str] = "Observe and print; act on the results outside the trace."

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        for call in program.calls():
            if call.name in UNSAFE_BUILTINS:
                severity, effect, fix = UNSAFE_EFFECTS.get(call.name, (self.severity, "acts on the host", self.fix))
                findings.append(self.finding(
                    f"{call.name}() {effect}", call, severity=severity, fix=fix,
                    requires_unsafe=True,
                ))
        return findings
