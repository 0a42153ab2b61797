"""Budgets: policies combine to the smallest limits, a caller can lower the CPU share but never raise it,
a policy file sets its own, and rates are judged only over a whole window."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcptrace_core.runs.models import RunBudget
from mcptrace_core.runs.watch import WindowRate
from mcptrace_core.safety.gate import combined_budget, lowered_budget
from mcptrace_core.safety.models import OverheadBudget, SafetyPolicy
from mcptrace_core.safety.policies import PolicyError, load_policy_file
from mcptrace_safety.policies import builtin_policies


def policies() -> dict[str, SafetyPolicy]:
    return {policy.name: policy for policy in builtin_policies()}


def test_the_builtin_policies_get_stricter_budgets_as_they_get_stricter() -> None:
    known = policies()
    for figure in ("max_cpu_pct", "max_events_per_s", "max_map_bytes", "max_output_lines_per_s",
                   "max_output_bytes_per_s"):
        values = [getattr(known[name].budget, figure) for name in ("strict", "standard", "permissive")]
        assert None not in values and values == sorted(values), figure


def test_the_smallest_limit_of_the_policies_in_force_wins() -> None:
    known = policies()
    budget = combined_budget([known["permissive"], known["strict"]])
    assert budget.max_cpu_pct == known["strict"].budget.max_cpu_pct
    assert budget.max_output_lines_per_s == known["strict"].budget.max_output_lines_per_s
    assert budget.source == "policy permissive+strict"


def test_a_caller_lowers_the_cpu_share_but_never_raises_it() -> None:
    policy = RunBudget(source="policy standard", max_cpu_pct=10)
    lowered = lowered_budget(policy, 1.5)
    assert lowered is not None and lowered.max_cpu_pct == 1.5 and lowered.cpu_source == "max_overhead_pct"
    assert lowered_budget(policy, 50) is policy
    assert lowered_budget(policy, None) is policy
    alone = lowered_budget(None, 3)
    assert alone is not None and alone.max_cpu_pct == 3


def test_a_policy_file_sets_its_budget_and_keeps_the_rest_of_its_base(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('extends = "standard"\n[budget]\nmax_cpu_pct = 1.5\nmax_output_lines_per_s = 50\n')
    policy = load_policy_file(path, policies())
    assert policy.budget.max_cpu_pct == 1.5 and policy.budget.max_output_lines_per_s == 50
    assert policy.budget.max_map_bytes == policies()["standard"].budget.max_map_bytes
    path.write_text('[budget]\nmax_cpu_pct = 0\n')
    with pytest.raises(PolicyError, match="max_cpu_pct"):
        load_policy_file(path, policies())
    path.write_text('[budget]\nmax_cpu = 5\n')
    with pytest.raises(PolicyError, match="max_cpu"):
        load_policy_file(path, policies())


def test_a_third_party_policy_without_a_budget_has_no_limits() -> None:
    policy = SafetyPolicy(name="bare", description="no budget")
    assert policy.budget == OverheadBudget()
    budget = combined_budget([policy])
    assert budget.max_cpu_pct is None and budget.max_output_lines_per_s is None


def test_a_rate_is_judged_only_over_a_whole_window() -> None:
    rate = WindowRate(2.0)
    assert rate.add(0.0, 0) is None
    assert rate.add(1.0, 5000) is None  # a burst at the start is not a sustained rate yet
    assert rate.add(2.0, 6000) == pytest.approx(3000)
    assert rate.add(3.0, 7000) == pytest.approx(1000)  # the window moved past the burst
