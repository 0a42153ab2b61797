"""The hostile corpus (tests/safety_hostile.py) judged for real: parsed, compiled by the host's bpftrace
where the policy lets it reach bpftrace, probes counted here, then judged under every built-in policy."""

from __future__ import annotations


import anyio
import pytest

from mcptrace_core.safety.models import ValidationReport
from mcptrace_core.safety.policies import resolve_policy
from mcptrace_core.services import Services
from mcptrace_bpftrace.validate.validator import analyze, judge
from tests.conftest import requires_bpftrace
from tests.safety_hostile import HARMLESS, HOSTILE, Planted, plant

pytestmark = [pytest.mark.anyio, requires_bpftrace]

LEVELS = ("strict", "standard", "permissive")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return plant(tmp_path_factory.mktemp("hostile"))


async def _judge_all(services: Services, programs: dict[str, str]) -> dict[str, dict[str, ValidationReport]]:
    backend = services.backend("bpftrace")
    policies = {level: resolve_policy(services, level) for level in LEVELS}
    side_by_side = anyio.Semaphore(2)
    reports: dict[str, dict[str, ValidationReport]] = {}

    async def one(name: str, program: str) -> None:
        async with side_by_side:
            analysis = await analyze(backend, program, policies["standard"].limits, policies["standard"].include_dirs)
        reports[name] = {level: judge(analysis, [policy], services.registry.safety_rules, None)
                         for level, policy in policies.items()}

    async with anyio.create_task_group() as group:
        for name, program in programs.items():
            group.start_soon(one, name, program)
    return reports


def test_the_corpus_is_big_enough() -> None:
    assert len(HOSTILE) >= 60 and len({case[0] for case in HOSTILE}) == len(HOSTILE)
    assert len(HARMLESS) >= 20


async def test_hostile_programs_get_their_verdicts(services: Services, planted: Planted) -> None:
    reports = await _judge_all(services, {name: planted.fill(program) for name, program, _, _ in HOSTILE})
    wrong = {}
    for name, _, verdicts, rule in HOSTILE:
        got = tuple(reports[name][level].verdict for level in LEVELS)
        rules = {finding.rule for finding in reports[name]["strict"].findings}
        if rule == "include-file" and any("#include refused" in error.message for error in reports[name]["strict"].errors):
            rules.add(rule)  # a program mcptrace's grammar cannot read is still refused by its includes first
        if got != verdicts or rule not in rules:
            wrong[name] = (got, verdicts, [(f.rule, f.severity.value, f.message) for f in reports[name]["strict"].findings])
        for finding in reports[name]["strict"].findings:
            assert finding.line is not None or finding.rule == "unanalysed-program", (name, finding)
            assert finding.fix and finding.rationale, (name, finding)
            assert planted.marker not in finding.message
    assert not wrong


async def test_harmless_programs_stay_allowed(services: Services) -> None:
    reports = await _judge_all(services, dict(HARMLESS))
    flagged = {name: [(level, f.rule, f.message) for level in LEVELS for f in reports[name][level].findings
                      if reports[name][level].verdict != "allow"]
               for name, _ in HARMLESS if any(reports[name][level].verdict != "allow" for level in LEVELS)}
    assert not flagged
    invalid = {name: reports[name]["standard"].errors for name, _ in HARMLESS if not reports[name]["standard"].valid}
    assert not invalid
