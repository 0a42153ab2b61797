"""Bad arguments get an isError result that names the field and what is allowed; the server keeps serving."""

from __future__ import annotations

import pytest

from mcptrace_core.tools import ToolError, invoke

pytestmark = pytest.mark.anyio

CASES = [
    ("exec_program", {}, "program: Field required"),
    ("exec_program", {"program": ""}, "program: String should have at least 1 character"),
    ("exec_program", {"program": "   \n  "}, "the program is empty"),
    ("exec_program", {"program": "x" * (1 << 20)}, "got str of length 1048576"),
    ("exec_program", {"program": "BEGIN {\x00}"}, "NUL character at offset 7"),
    ("exec_program", {"program": "BEGIN { }", "timeout_s": -1}, "timeout_s: Input should be greater than 0"),
    ("exec_program", {"program": "BEGIN { }", "timeout_s": "soon"}, "timeout_s: Input should be a valid number"),
    ("exec_program", {"program": "BEGIN { }", "wait": "perhaps"}, "wait: Input should be a valid boolean"),
    ("exec_program", {"program": "BEGIN { }", "shell": "rm -rf /"}, "shell: unknown argument (accepted: program"),
    ("get_result", {"execution_id": "x", "limit": 0}, "limit: Input should be greater than or equal to 1"),
    ("get_result", {"execution_id": "x", "wait_s": 3600}, "wait_s: Input should be less than or equal to 60"),
    ("list_probes", {"filter": "sched\x1b[2J"}, "filter: Value error, control characters are not allowed"),
    ("list_probes", {"limit": 10_000}, "limit: Input should be less than or equal to 1000"),
    ("list_executions", {"status": "sleeping"}, "status: Input should be 'running', 'completed'"),
]


@pytest.mark.parametrize(("tool", "arguments", "expected"), CASES)
async def test_bad_arguments_are_named(services, tool: str, arguments: dict, expected: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    with pytest.raises(ToolError) as caught:
        await invoke(services, services.registry.get("tool", tool), arguments)
    assert expected in str(caught.value)
    assert len(str(caught.value)) < 2000  # a 1 MB program is described, never echoed


async def test_a_lone_surrogate_is_not_valid_utf8(services) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ToolError, match=r"program: Value error, not valid UTF-8 \(unpaired surrogate at offset 16\)"):
        await invoke(services, services.registry.get("tool", "exec_program"), {"program": 'BEGIN { printf("\ud800"); }'})


async def test_errors_reach_the_client_as_is_error_and_the_server_survives(client) -> None:  # type: ignore[no-untyped-def]
    for tool, arguments, expected in CASES:
        result = await client.call_tool(tool, arguments)
        assert result.is_error and expected in result.content[0].text, (tool, arguments)
    unknown = await client.call_tool("no_such_tool", {})
    assert unknown.is_error and "unknown tool 'no_such_tool'" in unknown.content[0].text
    assert not (await client.call_tool("list_executions", {})).is_error
