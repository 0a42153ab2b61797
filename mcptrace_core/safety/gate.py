"""The gate every program passes before it runs: refuse, ask the user, or let it through; audit each.

Every tool that runs something (exec_program, exec_with_retry, templates, BCC tools) validates on the
server (a BCC tool run is judged by ``toolruns.judge_tool``) and then calls ``authorize``. An invalid
or blocked program is refused with its errors and findings, and the refusal is recorded in the history
(status refused) so that the attempt that fixes it can be linked to it. A program that needs
confirmation is shown to the user through the client; the ``confirm``
argument a model fills in counts only when every policy in force says so. ``--unsafe`` is used only
when the policy allows it and someone confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from mcptrace_core.history.records import RefusedAttempt
from mcptrace_core.runs.models import RunBudget
from mcptrace_core.safety.audit import AuditLog, program_digest
from mcptrace_core.safety.models import SafetyPolicy, ValidationReport, Verdict
from mcptrace_core.safety.text import confirmation_question, refusal_text
from mcptrace_core.tools import ToolCall, ToolError


@dataclass(frozen=True)
class Decision:
    """What the gate let through, and on whose word."""

    verdict: Verdict
    confirmed_by: str | None
    use_unsafe: bool
    limits: dict[str, int] = field(default_factory=dict)
    budget: RunBudget | None = None
    """The runtime limits of the run (output rate, overhead): the policies' smallest."""

    def budget_for(self, max_overhead_pct: float | None) -> RunBudget | None:
        """The run's budget with the caller's CPU share (``max_overhead_pct``) when it is lower."""
        return lowered_budget(self.budget, max_overhead_pct)


BUDGET_FIGURES = ("max_cpu_pct", "max_events_per_s", "max_map_bytes", "max_output_lines_per_s", "max_output_bytes_per_s")


def combined_budget(policies: Sequence[SafetyPolicy]) -> RunBudget:
    """Each runtime limit at its smallest among the policies in force; the longest window."""
    values: dict[str, float | int] = {}
    for policy in policies:
        for name in BUDGET_FIGURES:
            value = getattr(policy.budget, name)
            if value is not None:
                values[name] = min(value, values.get(name, value))
    window = max((policy.budget.window_s for policy in policies), default=2.0)
    return RunBudget(source="policy " + "+".join(policy.name for policy in policies), window_s=window, **values)


def lowered_budget(budget: RunBudget | None, max_overhead_pct: float | None) -> RunBudget | None:
    """``budget`` with a caller's lower CPU share; a caller can only lower a limit, never raise it."""
    if max_overhead_pct is None:
        return budget
    if budget is None:
        return RunBudget(source="max_overhead_pct", max_cpu_pct=max_overhead_pct, cpu_source="max_overhead_pct")
    if budget.max_cpu_pct is not None and budget.max_cpu_pct <= max_overhead_pct:
        return budget
    return replace(budget, max_cpu_pct=max_overhead_pct, cpu_source="max_overhead_pct")


def combined_limits(policies: Sequence[SafetyPolicy]) -> dict[str, int]:
    """Each limit at its smallest value among the policies in force (every limit is a ceiling)."""
    limits: dict[str, int] = {}
    for policy in policies:
        for name, value in policy.limits.items():
            limits[name] = min(value, limits.get(name, value))
    return limits


async def authorize(
    call: ToolCall,
    report: ValidationReport,
    policies: Sequence[SafetyPolicy],
    *,
    program: str,
    confirm_argument: bool,
    backend: str,
    chain_id: str | None = None,
    attempt: int | None = None,
    source: str | None = None,
    subject: str = "program",
) -> Decision:
    """Raise ToolError (after auditing it and recording it in the history) unless the program may run;
    return how it may run.

    :param program: what runs, as shown to the user and kept in the audit log and the history: the
        program text, or a tool's command line.
    :param chain_id: with ``attempt`` and ``source``, what the history keeps of a refused attempt
        besides the program and the report.
    :param subject: what it is, in the refusal and in the question, e.g. 'program', 'BCC tool run'.
    """
    audit = AuditLog(call.services.settings.safety.audit_path())
    record = {
        "tool": call.tool,
        "client": call.client,
        "backend": backend,
        "program_sha256": program_digest(program),
        "program": program,
        "policies": [policy.name for policy in policies],
        "verdict": report.verdict,
        "valid": report.valid,
        "errors": [f"{error.category}: {error.message}" for error in report.errors],
        "findings": [
            {"rule": finding.rule, "severity": finding.severity.value, "line": finding.line, "message": finding.message}
            for finding in report.findings
        ],
    }

    def refuse(reason: str, why: str, summary: str) -> ToolError:
        audit.record("run_refused", reason=reason, **record)
        call.services.history.attempt_refused(RefusedAttempt(
            backend=backend, program=program, reason=reason, message=summary, errors=tuple(report.errors),
            validation=report.summary(), parameters={"tool": call.tool, "policies": record["policies"]},
            chain_id=chain_id, attempt=attempt, source=source,
        ))
        return ToolError(refusal_text(report, why))

    if not report.valid:
        raise refuse("invalid", "refused: the program does not pass validation; fix these and call again",
                     report.errors[0].message if report.errors else "the program does not pass validation")
    if report.verdict == "block":
        blocked = f"the safety policy ({', '.join(record['policies'])}) blocks this {subject}"
        raise refuse("blocked", f"refused: {blocked}", _with_top_finding(blocked, report))
    confirmed_by = None
    if report.verdict == "confirm":
        confirmed_by = await _confirmation(call, report, policies, program, confirm_argument, subject)
        if confirmed_by is None:
            how = (
                "the user declined, or the client cannot ask its user: it lacks MCP elicitation"
                if call.can_confirm else "nobody could be asked to confirm"
            )
            raise refuse("not_confirmed", (
                f"refused: this {subject} needs the user's confirmation and did not get it ({how}); "
                f"change the {subject} so that the findings below go away, or ask the user to run it themselves"
            ), _with_top_finding(f"not confirmed ({how})", report))
    use_unsafe = report.requires_unsafe and confirmed_by is not None and all(p.allow_unsafe for p in policies)
    decision = Decision(report.verdict, confirmed_by, use_unsafe, combined_limits(policies), combined_budget(policies))
    audit.record("run_allowed", confirmed_by=confirmed_by, unsafe=use_unsafe, limits=decision.limits,
                 budget=asdict(decision.budget) if decision.budget is not None else None, **record)
    return decision


def _with_top_finding(reason: str, report: ValidationReport) -> str:
    """The refusal in one line, with the most severe finding (what to change first)."""
    if not report.findings:
        return reason
    top = max(report.findings, key=lambda finding: finding.severity.rank)
    return f"{reason}: {top.rule}: {top.message}"


async def _confirmation(
    call: ToolCall,
    report: ValidationReport,
    policies: Sequence[SafetyPolicy],
    program: str,
    confirm_argument: bool,
    subject: str,
) -> str | None:
    via = f"via {call.client or 'an unnamed client'} over {_transport(call)}"
    if confirm_argument and all(policy.model_confirmation for policy in policies):
        return f"model (confirm argument, accepted by the policy) {via}"
    if await call.confirm(confirmation_question(report, program, unsafe=report.requires_unsafe, subject=subject)):
        return f"user (elicitation) {via}"
    return None


def _transport(call: ToolCall) -> str:
    """How the confirming client is connected: on stdio it has the server's privileges, on HTTP it holds the token."""
    return "the terminal" if call.client == "cli" else call.services.settings.server.transport
