"""How long a run (of a program or a tool) may last."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.models import Finding, ToolRun

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext


class RunDurationRule(SafetyRule):
    id: ClassVar[str] = "run-duration"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "A long trace keeps its probes on the host (and root-owned processes running) long after the "
        "question was answered; short runs that are repeated are safer and cheaper."
    )
    fix: ClassVar[str] = (
        "Ask for a shorter timeout (or duration); aggregate in maps so a short run answers the question."
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        over = _over_limit(context)
        first = program.probes[0] if program.probes else None
        return [self.finding(f"the run asks for {over}", first)] if over else []

    def check_tool(self, run: ToolRun, context: RuleContext) -> Sequence[Finding]:
        over = _over_limit(context)
        return [self.finding(f"{run.name} would run for {over}")] if over else []


def _over_limit(context: RuleContext) -> str | None:
    """'N s; the policy allows M s' when the run is longer than the policy allows."""
    limit = context.threshold("max_duration_s")
    if context.timeout_s is None or context.timeout_s <= limit:
        return None
    return f"{context.timeout_s:g} s; the policy allows {limit:g} s"
