"""The gate every program passes before it runs: refuse, ask the user, or let it through; audit each.

Every tool that runs something (exec_program, exec_with_retry, templates, BCC tools) validates on the
server (a BCC tool run is judged by ``toolruns.judge_tool``) and then calls ``authorize``. An invalid or blocked program is refused with its errors and
findings. A program that needs confirmation is shown to the user through the client; the ``confirm``
argument a model fills in counts only when every policy in force says so. ``--unsafe`` is used only
when the policy allows it and someone confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    subject: str = "program",
) -> Decision:
    """Raise ToolError (after auditing it) unless the program may run; return how it may run.

    :param program: what runs, as shown to the user and kept in the audit log: the program text, or a
        tool's command line.
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
    if not report.valid:
        audit.record("run_refused", reason="invalid", **record)
        raise ToolError(refusal_text(report, "refused: the program does not pass validation; fix these and call again"))
    if report.verdict == "block":
        audit.record("run_refused", reason="blocked", **record)
        raise ToolError(refusal_text(
            report, f"refused: the safety policy ({', '.join(record['policies'])}) blocks this {subject}"
        ))
    confirmed_by = None
    if report.verdict == "confirm":
        confirmed_by = await _confirmation(call, report, policies, program, confirm_argument, subject)
        if confirmed_by is None:
            audit.record("run_refused", reason="not_confirmed", **record)
            how = (
                "the user declined, or the client cannot ask its user: it lacks MCP elicitation"
                if call.can_confirm else "nobody could be asked to confirm"
            )
            raise ToolError(refusal_text(
                report, f"refused: this {subject} needs the user's confirmation and did not get it ({how}); "
                f"change the {subject} so that the findings below go away, or ask the user to run it themselves",
            ))
    use_unsafe = report.requires_unsafe and confirmed_by is not None and all(p.allow_unsafe for p in policies)
    decision = Decision(report.verdict, confirmed_by, use_unsafe, combined_limits(policies))
    audit.record("run_allowed", confirmed_by=confirmed_by, unsafe=use_unsafe, limits=decision.limits, **record)
    return decision


async def _confirmation(
    call: ToolCall,
    report: ValidationReport,
    policies: Sequence[SafetyPolicy],
    program: str,
    confirm_argument: bool,
    subject: str,
) -> str | None:
    if confirm_argument and all(policy.model_confirmation for policy in policies):
        return "model (confirm argument, accepted by the policy)"
    if await call.confirm(confirmation_question(report, program, unsafe=report.requires_unsafe, subject=subject)):
        return f"user (elicitation via {call.client or 'the client'})"
    return None
