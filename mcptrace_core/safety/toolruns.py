"""Judge a run of an installed tool (a BCC tool with its arguments) under the policies in force.

The same engine as for programs: each rule's ``check_tool`` says what is risky about the run, the
policy's disabled rules and severity overrides apply, the policy's ``tools`` table refuses or asks
about tools by name, and ``decide`` turns the findings into a verdict. The result is a
ValidationReport, so the gate (``gate.authorize``) treats a tool run exactly as it treats a program:
the same refusal, the same question to the user through the client, the same audit line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.engine import RuleContext, decide, merge_findings, override, rule_findings
from mcptrace_core.safety.models import (
    VERDICTS,
    Finding,
    LayerResult,
    SafetyPolicy,
    ToolRun,
    ValidationReport,
    Verdict,
    stricter,
)

LISTED_TOOLS_RULE = "policy-tools"


def evaluate_tool(run: ToolRun, rules: Iterable[SafetyRule], context: RuleContext) -> list[Finding]:
    """The findings of every rule the policy enables for this run, then the policy's own word on the tool."""
    policy = context.policy
    found = rule_findings(rules, policy, lambda rule: rule.check_tool(run, context), "tool run")
    findings = [override(finding, policy) for finding in found]
    listed = _listed(run, policy)
    return sorted([*listed, *findings], key=lambda finding: -finding.severity.rank)


def judge_tool(
    run: ToolRun,
    policies: Sequence[SafetyPolicy],
    rules: Iterable[SafetyRule],
    timeout_s: float | None = None,
    extra: Sequence[Finding] = (),
) -> ValidationReport:
    """The verdict of every policy in force on ``run``; the strictest wins, findings are merged.

    :param timeout_s: how long the run will last at most (rules compare it with the policy's limits).
    :param extra: findings the backend adds from its own configuration, judged like the rules' (a
        critical one refuses the run under every policy).
    """
    rules = list(rules)
    verdict: Verdict = "allow"
    groups: list[list[Finding]] = []
    for policy in policies:
        context = RuleContext(policy, timeout_s=timeout_s, backend=run.backend)
        findings = [*extra, *evaluate_tool(run, rules, context)]
        groups.append(findings)
        verdict = stricter(verdict, decide(findings, policy))
    return ValidationReport(
        valid=True,
        verdict=verdict,
        policy="+".join(policy.name for policy in policies),
        findings=merge_findings(groups),
        layers=[LayerResult(
            layer="safety", state="failed" if verdict == "block" else "passed", detail=f"verdict {verdict}",
        )],
    )


def tool_matches(run: ToolRun, pattern: str) -> bool:
    """A name or shell-style pattern that names this tool, in any of its builds."""
    return fnmatchcase(run.name, pattern) or fnmatchcase(run.base_name, pattern)


def _listed(run: ToolRun, policy: SafetyPolicy) -> list[Finding]:
    """The policy's ``tools`` entry for this tool (the strictest when several patterns match)."""
    matching = [(verdict, pattern) for pattern, verdict in policy.tools.items() if tool_matches(run, pattern)]
    if not matching:
        return []
    verdict, pattern = max(matching, key=lambda item: VERDICTS.index(item[0]))
    if verdict == "block":
        return [Finding(
            rule=LISTED_TOOLS_RULE, severity=Severity.critical,
            message=f"the {policy.name!r} policy forbids {run.name} (tools: {pattern!r} = 'block')",
            rationale="The policy names the tools that may not run on this host.",
            fix="Use another tool or a bpftrace program that answers the same question.",
        )]
    return [Finding(
        rule=LISTED_TOOLS_RULE, severity=Severity.low, requires_confirmation=True,
        message=f"the {policy.name!r} policy runs {run.name} only after the user confirms (tools: {pattern!r} = "
        "'confirm')",
        rationale="The policy names the tools that need a person's approval on this host.",
        fix="Ask the user to approve the run when the question is asked.",
    )]
