"""BCC tool runs pass the same safety gate as bpftrace programs, over a real MCP session.

The core safety engine judges each run (the safety plugin's tool rules, the policy's `tools` table,
severity overrides, bcc.deny), the user confirms through MCP elicitation, and every decision is audited.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mcptrace_bcc.guard import judge, tool_run

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.safety.models import SafetyPolicy
from mcptrace_core.safety.policies import resolve_policy
from mcptrace_core.services import Services
from tests.test_bcc import requires_bcc
from tests.validation_support import answering, audit_events, mcp_client, settings_with

pytestmark = [pytest.mark.anyio, requires_bcc]

QUICK = {"tool_name": "syscount", "arguments": {"top": 2}, "timeout_s": 1, "wait": True}


async def test_a_tool_that_captures_typed_commands_runs_once_the_user_confirms(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(True, asked)) as (client, _):
        result = await client.call_tool("exec_bcc_tool", {"tool_name": "bashreadline", "timeout_s": 1, "wait": True})
    assert not result.is_error, result.content[0].text
    (question,) = asked
    assert question.startswith("This BCC tool command is about to run as root") and "\nbashreadline" in question
    assert "tool-captures-content" in question
    data = result.structured_content
    assert data["status"] in ("completed", "timed_out") and data["validation"]["verdict"] == "confirm"
    (event,) = audit_events(settings)
    assert event["event"] == "run_allowed" and event["backend"] == "bcc" and event["tool"] == "exec_bcc_tool"
    assert event["program"].startswith("bashreadline") and event["confirmed_by"].startswith("user")


async def test_without_elicitation_a_tool_needing_confirmation_is_refused_and_audited(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    async with mcp_client(settings) as (client, services):
        result = await client.call_tool("exec_bcc_tool", {"tool_name": "bashreadline", "confirm": True})
        assert services.runs.list() == []
    text = result.content[0].text
    assert result.is_error and "lacks MCP elicitation" in text and "[high] tool-captures-content" in text
    assert [(e["event"], e["reason"]) for e in audit_events(settings)] == [("run_refused", "not_confirmed")]


@pytest.mark.parametrize(("level", "outcome"), [("strict", "blocked"), ("permissive", "runs")])
async def test_each_policy_places_the_same_finding_differently(tmp_path: Path, level: str, outcome: str) -> None:
    settings = settings_with(tmp_path, safety={"level": level})
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(False, asked)) as (client, _):
        result = await client.call_tool("exec_bcc_tool", {"tool_name": "bashreadline", "confirm": True,
                                                          "timeout_s": 1, "wait": True})
    assert asked == []  # strict refuses (high is its block level); permissive asks only at critical
    event = audit_events(settings)[-1]
    if outcome == "blocked":
        assert result.is_error and "the safety policy (strict) blocks this BCC tool command" in result.content[0].text
        assert event["reason"] == "blocked"
    else:
        assert not result.is_error, result.content[0].text
        assert event["event"] == "run_allowed" and event["verdict"] == "allow"
        assert event["findings"][0]["rule"] == "tool-captures-content"


async def test_a_policy_file_forbids_a_tool_and_asks_about_another(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(textwrap.dedent("""
        name = "site"
        description = "This site"
        extends = "standard"
        [tools]
        "exec*" = "block"
        syscount = "confirm"
    """))
    settings = settings_with(tmp_path, safety={"level": "site", "policy_file": str(policy)})
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(False, asked)) as (client, services):
        blocked = await client.call_tool("exec_bcc_tool", {"tool_name": "execsnoop"})
        declined = await client.call_tool("exec_bcc_tool", QUICK)
        assert services.runs.list() == []
    assert blocked.is_error and "[critical] policy-tools: the 'site' policy forbids execsnoop" in blocked.content[0].text
    assert declined.is_error and len(asked) == 1 and "syscount --top=2 --duration=1" in asked[0]
    assert "policy-tools" in asked[0]
    assert [e["reason"] for e in audit_events(settings)] == ["blocked", "not_confirmed"]


class PidRequired(SafetyRule):
    """A third party's rule about tool runs: on its hosts opensnoop must be limited to one process."""

    id = "acme-opensnoop-pid"
    severity = Severity.critical
    rationale = "ACME hosts serve many customers: a trace covers one process."
    fix = "Give arguments.pid."

    def check_tool(self, run: Any, context: Any) -> list[Any]:
        if run.base_name == "opensnoop" and "pid" not in run.arguments:
            return [self.finding("opensnoop traces every process on the host")]
        return []


class AcmePlugin:
    @hookimpl
    def mcptrace_safety_rules(self) -> list[SafetyRule]:
        return [PidRequired()]

    @hookimpl
    def mcptrace_safety_policies(self) -> list[SafetyPolicy]:
        return [SafetyPolicy(name="acme", description="ACME hosts", tools={"tcp*": "block", "exitsnoop": "block"})]


async def test_a_policy_plugin_forbids_tools_and_its_rule_judges_arguments(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, safety={"level": "acme"})
    pm = build_plugin_manager(settings.plugins.disable, plugins=[("acme", AcmePlugin())])
    services = Services.create(settings, plugins=pm)
    try:
        policy = resolve_policy(services)
        catalog = services.backend("bcc").catalog
        exitsnoop, opensnoop = await catalog.tool("exitsnoop"), await catalog.tool("opensnoop")
        for tool, arguments, verdict in ((exitsnoop, {}, "block"), (opensnoop, {}, "block"),
                                         (opensnoop, {"pid": 1}, "allow")):
            report = judge(tool_run(tool, arguments), settings, services.registry, [policy], 1)
            assert report.verdict == verdict, (tool.name, arguments, report.findings)
    finally:
        await services.aclose()


async def test_bcc_deny_in_the_configuration_still_forbids_and_is_audited(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, bcc={"deny": ["exec*"]})
    async with mcp_client(settings) as (client, _):
        result = await client.call_tool("exec_bcc_tool", {"tool_name": "execsnoop"})
    assert result.is_error and "bcc.deny matches 'exec*'" in result.content[0].text
    assert audit_events(settings)[-1]["findings"][0]["rule"] == "bcc-deny"


async def test_state_changing_tools_are_refused_under_every_built_in_policy(tmp_path: Path) -> None:
    """Judged, never run: running reset-trace would turn off the host's tracing for everyone."""
    settings = settings_with(tmp_path)
    services = Services.create(settings)
    try:
        files = services.backend("bcc").catalog.files()
        names = [name for name in ("reset-trace-bpfcc", "inject-bpfcc") if name in files]
        if not names:
            pytest.skip("bpfcc-tools is not installed (.ci/run installs it)")
        for name in names:
            tool = SimpleNamespace(name=name, file=files[name])
            for level in ("strict", "standard", "permissive"):
                report = judge(tool_run(tool), settings, services.registry, [resolve_policy(services, level)], 1)
                assert report.verdict == "block" and report.findings[0].rule == "tool-changes-state", (name, level)
            usability = await services.backend("bcc").catalog.usability(files[name])
            assert usability.usable is None and usability.reason.startswith("never tried: running it")
    finally:
        await services.aclose()


async def test_a_run_longer_than_the_policy_or_the_server_allows_is_refused(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, safety={"level": "strict"})
    async with mcp_client(settings) as (client, _):
        strict = await client.call_tool("exec_bcc_tool", {"tool_name": "syscount", "arguments": {"duration": 300}})
        server = await client.call_tool("exec_bcc_tool", {"tool_name": "runqlat", "arguments": {"interval": 100,
                                                                                                 "count": 100}})
    assert strict.is_error and "run-duration" in strict.content[0].text and "300 s" in strict.content[0].text
    assert server.is_error and "10000 s by itself" in server.content[0].text and "runs.max_timeout_s" in server.content[0].text
