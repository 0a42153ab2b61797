"""The server lists its tools with honest schemas and annotations over a real MCP session."""

from __future__ import annotations

import pytest

from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

READ_ONLY = {"list_helpers", 
    "bpf_info", "list_probes", "get_result", "list_executions", "validate_program", "list_bcc_tools", "discover_probes",
    "list_templates", "generate_from_template", "search_history", "analyze_output",
    "search_examples", "find_capabilities",
}


async def test_tools_are_listed_with_flat_schemas_and_honest_annotations(client) -> None:  # type: ignore[no-untyped-def]
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"bpf_info", "list_probes", "exec_program", "get_result", "stop_execution", "list_executions"} <= set(tools)
    for name, tool in tools.items():
        assert "$ref" not in str(tool.input_schema), f"{name} input schema is not flat"
        assert tool.output_schema, f"{name} has no output schema"
        assert tool.description and len(tool.description) > 40
        assert tool.annotations.read_only_hint == (name in READ_ONLY), name


@requires_bpftrace
async def test_exec_program_waits_and_streams_progress(client) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    result = await client.call_tool(
        "exec_program",
        {"program": 'BEGIN { printf("hello from mcptrace\\n"); exit(); }', "wait": True},
        progress_callback=progress,
    )
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["status"] == "completed" and data["exit_code"] == 0
    assert "hello from mcptrace" in data["lines"]
    assert any("hello from mcptrace" in message for message in seen)


@requires_bpftrace
async def test_the_modern_protocol_without_a_handshake(services) -> None:  # type: ignore[no-untyped-def]
    from mcp import Client

    from mcptrace_core.server import build_server

    async with Client(build_server(services), mode="auto") as modern:
        assert modern.protocol_version >= "2026"
        result = await modern.call_tool("exec_program", {"program": "BEGIN { @x = 42; exit(); }", "wait": True})
        assert not result.is_error
        assert result.structured_content["maps"][0]["entries"][0]["value"] == 42
