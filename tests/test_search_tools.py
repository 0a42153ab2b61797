"""search_examples and find_capabilities over a real MCP session, and the `mcptrace search` command."""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from mcptrace_core.server import build_server
from tests.conftest import requires_bpftrace
from tests.search_support import make_services

pytestmark = pytest.mark.anyio


@pytest.fixture
async def search_client() -> AsyncIterator[Any]:
    from mcp import Client

    services = make_services()
    async with Client(build_server(services), mode="legacy") as session:
        yield session
    await services.aclose()


async def _call(client: Any, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result


async def test_search_examples_returns_programs_with_host_awareness(search_client: Any) -> None:
    result = await _call(search_client, "search_examples", query="which files do programs open", limit=3)
    data = result.structured_content
    assert len(data["results"]) == 3
    first = data["results"][0]
    assert first["id"] == "files.opens" and first["pack"] == "search-test"
    assert "sys_exit_openat" in first["program"]
    assert set(first) >= {
        "id",
        "title",
        "description",
        "program",
        "probes",
        "score",
        "runnable",
        "missing",
        "pack",
    }
    text = result.content[0].text
    assert "files.opens" in text and "| tracepoint:syscalls:sys_enter_openat" in text


@requires_bpftrace
async def test_runnable_only_and_alternatives_over_mcp(search_client: Any) -> None:
    everything = (
        await _call(search_client, "search_examples", query="kprobe:tcp_retransmit_skb", limit=2)
    ).structured_content
    top = everything["results"][0]
    assert top["id"] == "tcp.retransmits-k"
    info = (await _call(search_client, "bpf_info")).structured_content
    if "kprobe" not in info["usable_probe_types"]:
        assert top["runnable"] is False and top["missing"] == ["probe type kprobe"]
        assert top["alternative"]["id"] == everything["results"][1]["id"] == "tcp.retransmit-counts"
        assert everything["results"][1]["alternative_for"]["id"] == "tcp.retransmits-k"
        runnable = await _call(
            search_client, "search_examples", query="kprobe:tcp_retransmit_skb", runnable_only=True
        )
        assert all(hit["runnable"] for hit in runnable.structured_content["results"])
        assert "tcp.retransmits-k" not in {hit["id"] for hit in runnable.structured_content["results"]}
        text = (
            (await _call(search_client, "search_examples", query="kprobe:tcp_retransmit_skb")).content[0].text
        )
        assert "NOT runnable here, missing: probe type kprobe" in text
        assert "runnable alternative: search-test/tcp.retransmit-counts" in text


@requires_bpftrace
async def test_the_top_runnable_result_really_runs_for_a_second(search_client: Any) -> None:
    found = await _call(
        search_client, "search_examples", query="context switches per process", runnable_only=True
    )
    program = found.structured_content["results"][0]["program"]
    run = await _call(search_client, "exec_program", program=program, timeout_s=1, wait=True)
    assert run.structured_content["status"] == "timed_out", run.structured_content
    assert not run.structured_content["errors"]


async def test_find_capabilities_covers_tools_templates_and_examples(search_client: Any) -> None:
    tools = (
        await _call(search_client, "find_capabilities", query="stop a running trace and keep its maps")
    ).structured_content
    assert tools["results"][0]["kind"] == "tool" and tools["results"][0]["id"] == "stop_execution"
    assert "stop_execution" in tools["results"][0]["usage"]
    templates = await _call(
        search_client, "find_capabilities", query="how long does a system call take", kinds=["template"]
    )
    hit = templates.structured_content["results"][0]
    assert (hit["kind"], hit["id"], hit["source"]) == ("template", "syscall_latency", "search-test-templates")
    assert "generate_from_template" in hit["usage"]
    tools = await _call(
        search_client,
        "find_capabilities",
        query="which process does the most disk I/O",
        kinds=["bcc_tool"],
        limit=50,
    )
    ours = [hit for hit in tools.structured_content["results"] if hit["source"] == "search-test-bcc"]
    assert (ours[0]["id"], ours[0]["runnable"]) == ("biotop", False), (
        "an installed BCC backend may add its own"
    )
    assert ours[0]["missing"] == ["its trial run failed here: it needs kprobes"]
    assert "NOT runnable here" in tools.content[0].text
    examples = await _call(search_client, "find_capabilities", query="opensnoop", kinds=["example"], limit=1)
    assert [h["id"] for h in examples.structured_content["results"]] == ["files.opens"]


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("search_examples", {"query": ""}, "query"),
        ("search_examples", {"query": "   "}, "query"),
        ("search_examples", {"query": "a\x1b[31m"}, "control characters"),
        ("search_examples", {"query": "x", "limit": 0}, "limit"),
        ("search_examples", {"query": "x", "tags": ["bad tag!"]}, "tags"),
        ("search_examples", {"query": "x", "color": "red"}, "unknown argument"),
        ("find_capabilities", {"query": "x", "kinds": ["plugin"]}, "kinds"),
        ("find_capabilities", {"query": "x" * 501}, "query"),
    ],
)
async def test_bad_arguments_are_errors_that_name_the_field(
    search_client: Any, tool: str, arguments: dict[str, Any], named: str
) -> None:
    result = await search_client.call_tool(tool, arguments)
    assert result.is_error
    assert named in result.content[0].text


def test_search_command_prints_one_json_document() -> None:
    result = CliRunner().invoke(
        cli, ["search", "trace the programs that are started", "--limit", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "trace the programs that are started"
    assert len(data["results"]) <= 2
    for hit in data["results"]:
        assert isinstance(hit["runnable"], bool) and isinstance(hit["program"], str)


def test_search_command_reports_bad_input_as_json() -> None:
    result = CliRunner().invoke(cli, ["search", "   ", "--json"])
    assert result.exit_code == 1
    assert "query" in json.loads(result.stdout)["error"]


async def test_the_text_of_a_hostile_pack_cannot_drive_the_terminal() -> None:
    from mcptrace_core.models import Example
    from mcptrace_core.tools import invoke
    from tests.search_support import PackPlugin, SearchTestPack

    hostile = Example(
        id="hostile.title",
        title="Clears \x1b[2Jyour screen",
        description="A description with a bell\x07 and a \u202eright-to-left override in it.",
        program='BEGIN { printf("hi\\n"); exit(); } // \x1b]0;owned\x07\n',
        probes=["BEGIN"],
        category="misc",
        output="events",
    )
    services = make_services(("search-test", PackPlugin(SearchTestPack([hostile]))))
    spec = services.registry.get("tool", "search_examples")
    result = await invoke(services, spec, {"query": "clears your screen", "limit": 1})
    assert result.results[0].id == "hostile.title"
    assert "\x1b[" in result.results[0].title, "the structured result keeps the pack's text as it is"
    text = result.to_text()
    assert not any(char in text for char in "\x1b\x07\u202e")
    assert "Clears your screen" in text
    await services.aclose()


@pytest.mark.parametrize(
    "question",
    ["who is killing processes on this machine", "which process sent SIGTERM to my service",
     "is anything sending signals to nginx"],
)
async def test_questions_about_who_signals_find_the_signal_tools_first(question: str) -> None:
    """Issue 16: the shipped signals template and signal examples lead; the OOM killer may follow."""
    from mcp import Client

    from mcptrace_core.config import load_settings
    from mcptrace_core.plugins import build_plugin_manager
    from mcptrace_core.services import Services
    from mcptrace_embedder.shipped import HOST_PLUGINS

    settings = load_settings(Path("/nonexistent/mcptrace.toml"))
    services = Services.create(settings, build_plugin_manager([*settings.plugins.disable, *HOST_PLUGINS]))
    try:
        async with Client(build_server(services), mode="legacy") as session:
            found = await _call(session, "find_capabilities", query=question, kinds=["template", "example"],
                                limit=3)
    finally:
        await services.aclose()
    hits = [(hit["kind"], hit["id"]) for hit in found.structured_content["results"]]
    signal_tools = {("template", "signals"), ("example", "ipc.kill-calls"), ("example", "ipc.signals-sent")}
    assert hits[0] in signal_tools, hits
    assert ("template", "signals") in hits, hits
