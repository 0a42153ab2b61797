"""Run the safety rules over a program and turn their findings into a verdict under a policy.

Generic over backends: a rule sees the program model and a RuleContext with what the backend measured
(how many probes each spec attaches here, the requested duration). A rule that raises is isolated: its
failure becomes a finding that needs confirmation, so a broken plugin can neither crash validation
nor wave a program through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.logging import get_logger
from mcptrace_core.models import Severity
from mcptrace_core.safety.models import Finding, SafetyPolicy, Verdict, stricter

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.program.probespec import ProbeSpec

log = get_logger(__name__)

ALLOWED_PROBES_RULE = "policy-allowed-probes"
RULE_FAILED = "rule-failed"


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know beyond the program text."""

    policy: SafetyPolicy
    probe_counts: Mapping[str, int | None] = field(default_factory=dict)
    """Probes each spec (by its text) attaches here; None when it cannot be counted (or is not usable)."""
    timeout_s: float | None = None
    """How long the run is asked to last; None for a check without a run."""
    backend: str = "bpftrace"

    def threshold(self, name: str, default: float | None = None) -> float:
        """A threshold of the policy: a known field, or an extra key a third-party policy set."""
        value = getattr(self.policy.thresholds, name, None)
        if value is None:
            value = (self.policy.thresholds.model_extra or {}).get(name, default)
        if value is None:
            raise KeyError(f"policy {self.policy.name!r} has no threshold {name!r}")
        return float(value)

    def count(self, spec: ProbeSpec) -> int | None:
        return self.probe_counts.get(spec.text)


def evaluate(program: Program, rules: Iterable[SafetyRule], context: RuleContext) -> list[Finding]:
    """The findings of every rule the policy enables, with the policy's severity overrides applied."""
    policy = context.policy
    findings = [
        *rule_findings(rules, policy, lambda rule: rule.check(program, context), "program"),
        *_probe_allowlist(program, policy),
    ]
    return sorted((override(finding, policy) for finding in findings),
                  key=lambda finding: (finding.line or 0, finding.col or 0, -finding.severity.rank))


def rule_findings(
    rules: Iterable[SafetyRule], policy: SafetyPolicy, check: Callable[[SafetyRule], Iterable[Finding]], subject: str
) -> list[Finding]:
    """The findings of every rule the policy enables (``check`` asks one rule about the ``subject``), as
    the rules gave them; a rule that raises gives a finding that needs confirmation instead."""
    findings: list[Finding] = []
    for rule in rules:
        if rule.id not in policy.disabled_rules:
            findings.extend(_run_rule(rule, check, subject))
    return findings


def _run_rule(rule: SafetyRule, check: Callable[[SafetyRule], Iterable[Finding]], subject: str) -> list[Finding]:
    try:
        return list(check(rule))
    except Exception as error:  # isolation boundary around plugin code
        log.exception("safety rule failed", rule=rule.id)
        return [Finding(
            rule=RULE_FAILED, severity=Severity.high,
            message=f"the safety rule {rule.id!r} failed ({type(error).__name__}: {error}); the {subject} "
            "could not be fully checked",
            rationale=f"A rule that cannot run must not let a {subject} through unchecked.",
            fix="Report the failure to the rule's author, or disable the rule in the policy file.",
        )]


def decide(findings: Sequence[Finding], policy: SafetyPolicy) -> Verdict:
    """block, confirm or allow: the most severe finding against the policy's levels; --unsafe always asks,
    and so does a finding that requires confirmation."""
    verdict: Verdict = "allow"
    for finding in findings:
        if finding.requires_unsafe:
            verdict = stricter(verdict, "confirm" if policy.allow_unsafe else "block")
        if finding.requires_confirmation:
            verdict = stricter(verdict, "confirm")
        if finding.severity.rank >= policy.block_at.rank:
            verdict = "block"
        elif finding.severity.rank >= policy.confirm_at.rank:
            verdict = stricter(verdict, "confirm")
    return verdict


def merge_findings(groups: Iterable[Sequence[Finding]]) -> list[Finding]:
    """Findings of several policies as one list: one per rule and place, the most severe kept."""
    kept: dict[tuple[str, int | None, int | None, str], Finding] = {}
    for group in groups:
        for finding in group:
            key = (finding.rule, finding.line, finding.col, finding.message)
            if key not in kept or finding.severity.rank > kept[key].severity.rank:
                kept[key] = finding
    return sorted(kept.values(), key=lambda finding: (finding.line or 0, finding.col or 0, -finding.severity.rank))


def override(finding: Finding, policy: SafetyPolicy) -> Finding:
    """The finding at the severity the policy gives its rule, if it gives one."""
    severity = policy.severities.get(finding.rule)
    return finding.model_copy(update={"severity": severity}) if severity else finding


def _probe_allowlist(program: Program, policy: SafetyPolicy) -> list[Finding]:
    if not policy.allowed_probes:
        return []
    return [
        Finding(
            rule=ALLOWED_PROBES_RULE, severity=Severity.critical, line=spec.line, col=spec.col,
            message=f"{spec.text} is not among the probes the {policy.name!r} policy allows",
            rationale="The policy limits which probes may be attached on this host.",
            fix="Use probes matching: " + ", ".join(policy.allowed_probes),
        )
        for spec in program.specs
        if not any(fnmatchcase(spec.canonical, pattern) or fnmatchcase(spec.text, pattern)
                   for pattern in policy.allowed_probes)
    ]
