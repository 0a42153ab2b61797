"""The gate before every run, over a real MCP session: refuse, ask the user, or run; audit each decision.

Confirmation goes through MCP elicitation in both protocol families: mid-call elicitation/create on
the legacy protocol, an InputRequiredResult round trip on the 2026-07-28 one ("auto").
"""

from __future__ import annotations

import os
from pathlib import Path

import mcp_types as types
import pytest

from tests.conftest import requires_bpftrace
from tests.validation_support import answering, audit_events, mcp_client, settings_with

pytestmark = [pytest.mark.anyio, requires_bpftrace]

MODES = ("legacy", "auto")
UNSAFE = 'BEGIN { system("echo mcptrace-unsafe-ran"); exit(); }'
HOT_PRINTF = 'tracepoint:sched:sched_switch { printf("%s\\n", args->next_comm); exit(); }'
BLOCKED = 'BEGIN { cat("/etc/shadow"); exit(); }'


@pytest.mark.parametrize("mode", MODES)
async def test_a_confirmed_program_runs_with_unsafe_and_is_audited(tmp_path: Path, mode: str) -> None:
    settings = settings_with(tmp_path)
    asked: list[str] = []
    async with mcp_client(settings, mode, answering(True, asked)) as (client, _):
        result = await client.call_tool("exec_program", {"program": UNSAFE, "wait": True})
    assert not result.is_error, result.content
    assert len(asked) == 1 and "system(" in asked[0] and "--unsafe" in asked[0]
    assert "mcptrace-unsafe-ran" in result.structured_content["lines"]
    assert result.structured_content["validation"]["verdict"] == "confirm"
    [event] = audit_events(settings)
    assert event["event"] == "run_allowed" and event["unsafe"] is True
    assert event["confirmed_by"].startswith("user") and event["policies"] == ["standard"]
    assert os.stat(settings.safety.audit_path()).st_mode & 0o077 == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", [False, None], ids=["answered-no", "declined"])
async def test_a_declined_program_does_not_run(tmp_path: Path, mode: str, answer: bool | None) -> None:
    settings = settings_with(tmp_path)
    asked: list[str] = []
    async with mcp_client(settings, mode, answering(answer, asked)) as (client, services):
        result = await client.call_tool("exec_program", {"program": UNSAFE, "wait": True})
        assert services.runs.list() == []
    assert result.is_error and "did not get it" in result.content[0].text
    assert len(asked) == 1
    assert [(event["event"], event["reason"]) for event in audit_events(settings)] == [("run_refused", "not_confirmed")]


@pytest.mark.parametrize("mode", MODES)
async def test_without_elicitation_the_gate_fails_closed(tmp_path: Path, mode: str) -> None:
    settings = settings_with(tmp_path)
    async with mcp_client(settings, mode) as (client, services):
        result = await client.call_tool("exec_program", {"program": HOT_PRINTF, "confirm": True})
        assert services.runs.list() == []
    assert result.is_error and "lacks MCP elicitation" in result.content[0].text
    assert "hot-probe-output" in result.content[0].text


async def test_the_models_confirm_argument_is_not_a_confirmation_by_default(tmp_path: Path) -> None:
    asked: list[str] = []
    async with mcp_client(settings_with(tmp_path), "legacy", answering(False, asked)) as (client, _):
        result = await client.call_tool("exec_program", {"program": UNSAFE, "confirm": True})
    assert result.is_error and len(asked) == 1


async def test_a_permissive_policy_accepts_the_models_confirmation(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, safety={"level": "permissive"})
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(False, asked)) as (client, _):
        result = await client.call_tool("exec_program", {"program": UNSAFE, "confirm": True, "wait": True})
    assert not result.is_error, result.content
    assert asked == [] and "mcptrace-unsafe-ran" in result.structured_content["lines"]
    assert audit_events(settings)[-1]["confirmed_by"].startswith("model")


async def test_a_caller_cannot_loosen_the_configured_policy(tmp_path: Path) -> None:
    asked: list[str] = []
    async with mcp_client(settings_with(tmp_path), "legacy", answering(False, asked)) as (client, _):
        result = await client.call_tool(
            "exec_program", {"program": HOT_PRINTF, "safety_level": "permissive", "confirm": True}
        )
    assert result.is_error and len(asked) == 1
    assert "standard+permissive" in asked[0]


async def test_a_strict_server_refuses_unsafe_builtins_even_if_the_user_would_accept(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, safety={"level": "strict"})
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(True, asked)) as (client, _):
        result = await client.call_tool("exec_program", {"program": UNSAFE})
    assert result.is_error and asked == []
    assert "blocks this program" in result.content[0].text
    assert audit_events(settings)[-1]["reason"] == "blocked"


async def test_a_blocked_program_is_refused_with_its_findings(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(True, asked)) as (client, services):
        result = await client.call_tool("exec_program", {"program": BLOCKED})
        assert services.runs.list() == []
    text = result.content[0].text
    assert result.is_error and asked == []
    assert "[critical] sensitive-file-read line 1" in text and "fix:" in text
    assert audit_events(settings)[-1]["findings"][0]["rule"] == "sensitive-file-read"


async def test_an_invalid_program_is_refused_with_its_errors(tmp_path: Path) -> None:
    async with mcp_client(settings_with(tmp_path)) as (client, services):
        result = await client.call_tool("exec_program", {"program": "tracepoint:syscalls:sys_enter_opennat { }"})
        assert services.runs.list() == []
    assert result.is_error
    assert "probe_not_found" in result.content[0].text and "sys_enter_openat" in result.content[0].text


async def test_an_answer_to_a_question_never_asked_is_ignored(tmp_path: Path) -> None:
    """On the modern protocol a client could send an answer with a forged request_state: it must not count."""
    async with mcp_client(settings_with(tmp_path), "auto", answering(True, [])) as (client, services):
        session = client.session
        first = await session.call_tool("exec_program", {"program": UNSAFE}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        [key] = first.input_requests
        yes = {key: types.ElicitResult(action="accept", content={"run": True})}
        forged = await session.call_tool("exec_program", {"program": UNSAFE}, input_responses=yes,
                                         request_state=f"{key}.{'0' * 64}", allow_input_required=True)
        assert isinstance(forged, types.InputRequiredResult) and services.runs.list() == []
        other = await session.call_tool("exec_program", {"program": UNSAFE.replace("ran", "ran2")},
                                        input_responses=yes, request_state=first.request_state,
                                        allow_input_required=True)
        assert isinstance(other, types.InputRequiredResult), "an answer about another program must not count"
        honest = await session.call_tool("exec_program", {"program": UNSAFE, "wait": True}, input_responses=yes,
                                         request_state=first.request_state, allow_input_required=True)
    assert isinstance(honest, types.CallToolResult) and not honest.is_error
    assert "mcptrace-unsafe-ran" in honest.structured_content["lines"]
