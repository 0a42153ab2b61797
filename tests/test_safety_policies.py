"""Policies: the built-in three, a TOML policy file, the verdict engine, limits, rule isolation, the audit log."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import structlog

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.logging import configure_logging
from mcptrace_core.models import Severity
from mcptrace_core.program.ir import Program
from mcptrace_core.program.parser import parse_program
from mcptrace_core.safety.audit import AuditLog
from mcptrace_core.safety.engine import RuleContext, decide, evaluate
from mcptrace_core.safety.models import Finding, SafetyPolicy
from mcptrace_core.safety.policies import PolicyError, resolve_policy, run_policies
from mcptrace_core.services import Services
from mcptrace_bpftrace.limits import LimitError, limits_env
from tests.validation_support import settings_with

HOT_PRINTF = 'tracepoint:sched:sched_switch { printf("%s\\n", comm); }'
TLS_TIMING = "uprobe:libssl:SSL_read { @[comm] = count(); }"


def verdict(services: Services, level: str, source: str, counts: dict[str, int | None] | None = None) -> str:
    policy = resolve_policy(services, level)
    program = parse_program(source)
    findings = evaluate(program, services.registry.safety_rules, RuleContext(policy, counts or {}))
    return decide(findings, policy)


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_built_in_policies_and_the_default(tmp_path: Path) -> None:
    services = Services.create(settings_with(tmp_path))
    assert {policy.name for policy in services.registry.safety_policies} == {"strict", "standard", "permissive"}
    assert resolve_policy(services).name == "standard"
    assert [verdict(services, level, HOT_PRINTF) for level in ("strict", "standard", "permissive")] == [
        "block", "confirm", "allow"
    ]


def test_a_policy_file_extends_a_built_in_one_and_changes_what_it_lists(tmp_path: Path) -> None:
    path = write_policy(tmp_path, """
name = "acme"
description = "ACME production"
extends = "standard"
confirm_at = "low"
disabled_rules = ["hot-probe-output"]
[severities]
"tls-plaintext" = "critical"
[thresholds]
attach_confirm_over = 5
[limits]
BPFTRACE_STRLEN = 32
""")
    services = Services.create(settings_with(tmp_path, safety={"policy_file": str(path), "level": "acme"}))
    acme = resolve_policy(services)
    assert acme.name == "acme" and acme.block_at == Severity.critical and acme.allow_unsafe is True
    assert acme.limits == {"BPFTRACE_MAX_PROBES": 1000, "BPFTRACE_MAX_BPF_PROGS": 1000,
                           "BPFTRACE_MAP_KEYS_MAX": 65_536, "BPFTRACE_STRLEN": 32}
    assert verdict(services, "acme", HOT_PRINTF) == "allow"  # the rule is off
    assert verdict(services, "acme", TLS_TIMING) == "block"  # low raised to critical
    assert verdict(services, "acme", "tracepoint:sched:sched_* { @ = count(); }",
                   {"tracepoint:sched:sched_*": 6}) == "confirm"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name = [", "not valid TOML"),
        ('extends = "lenient"', "extends = 'lenient' is not a known policy"),
        ('description = "x"\nconfirm_at = "sometimes"', "confirm_at"),
        ('description = "x"\n[limits]\nbpftrace_strlen = 10', "limits"),
        ('description = "x"\nunknown_key = 1', "unknown_key"),
    ],
)
def test_a_bad_policy_file_is_named_with_the_key_at_fault(tmp_path: Path, text: str, words: str) -> None:
    path = write_policy(tmp_path, text)
    services = Services.create(settings_with(tmp_path, safety={"policy_file": str(path)}))
    with pytest.raises(PolicyError) as caught:
        resolve_policy(services, "acme")
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_allowed_probes_refuse_every_other_probe(tmp_path: Path) -> None:
    path = write_policy(tmp_path, 'description = "only tracepoints"\nextends = "standard"\n'
                                  'allowed_probes = ["tracepoint:*", "BEGIN", "END"]\n')
    services = Services.create(settings_with(tmp_path, safety={"policy_file": str(path)}))
    assert verdict(services, "acme", "t:sched:sched_process_exec { @ = count(); } END { }") == "allow"
    assert verdict(services, "acme", "profile:hz:49 { @ = count(); }") == "block"


def test_runs_meet_the_configured_policy_and_the_callers(tmp_path: Path) -> None:
    services = Services.create(settings_with(tmp_path))
    assert [policy.name for policy in run_policies(services, None)] == ["standard"]
    assert [policy.name for policy in run_policies(services, "standard")] == ["standard"]
    assert [policy.name for policy in run_policies(services, "permissive")] == ["standard", "permissive"]
    with pytest.raises(PolicyError, match="known policies: permissive, standard, strict"):
        run_policies(services, "lax")


class ExplodingRule(SafetyRule):
    id: ClassVar[str] = "exploding"
    severity: ClassVar[Severity] = Severity.low
    rationale: ClassVar[str] = "A rule with a bug."
    fix: ClassVar[str] = "None."

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        raise RuntimeError("boom")


def test_a_rule_that_raises_makes_the_program_need_confirmation(tmp_path: Path) -> None:
    policy = resolve_policy(Services.create(settings_with(tmp_path)))
    findings = evaluate(parse_program("BEGIN { exit(); }"), [ExplodingRule()], RuleContext(policy))
    assert [(finding.rule, finding.severity) for finding in findings] == [("rule-failed", Severity.high)]
    assert "boom" in findings[0].message and decide(findings, policy) == "confirm"


def test_unsafe_always_needs_confirmation_and_is_blocked_where_not_allowed() -> None:
    unsafe = [Finding(rule="x", severity=Severity.info, message="m", requires_unsafe=True)]
    allowing = SafetyPolicy(name="a", description="d", allow_unsafe=True, confirm_at=Severity.critical)
    assert decide(unsafe, allowing) == "confirm"
    assert decide(unsafe, allowing.model_copy(update={"allow_unsafe": False})) == "block"


def test_bpftrace_limits_are_checked_before_they_reach_bpftrace() -> None:
    assert limits_env({"BPFTRACE_STRLEN": 128, "BCC_SOMETHING": 1}) == {"BPFTRACE_STRLEN": "128"}
    for limits, words in [({"BPFTRACE_STRLEN": 300}, "maximum of 200"), ({"BPFTRACE_PERF_RB_PAGES": 48}, "power of two"),
                          ({"BPFTRACE_FOO": 1}, "not a bpftrace limit")]:
        with pytest.raises(LimitError, match=words):
            limits_env(limits)


def test_the_audit_log_is_json_lines_readable_by_its_owner_only(tmp_path: Path) -> None:
    configure_logging("error")  # the diagnostic log's level must not silence the audit log
    try:
        log = AuditLog(tmp_path / "state" / "audit.jsonl")
        log.record("run_allowed", tool="exec_program", verdict="confirm", confirmed_by="user")
        log.record("run_refused", tool="exec_program", reason="blocked")
    finally:
        structlog.reset_defaults()
    lines = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:2] == ["time", "event"] and first["confirmed_by"] == "user"
    assert second["reason"] == "blocked"
    assert os.stat(tmp_path / "state" / "audit.jsonl").st_mode & 0o777 == 0o600
