"""The template tools over a real MCP session, the full exposure mode, the hook they rely on, and the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core import hookimpl
from mcptrace_core.cli import cli
from mcptrace_core.config import Settings, load_settings
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import Registry, build_registry
from mcptrace_core.services import Services
from mcptrace_core.templates.engine import render
from mcptrace_templates.pack import CoreTemplates, mcptrace_template_packs
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

CORE = {template.name: template for template in CoreTemplates().templates()}


async def test_list_templates_gives_every_template_with_a_flat_schema(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("list_templates", {})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["total"] == len(data["templates"]) == len(CORE) >= 25 and data["problems"] == []
    for info in data["templates"]:
        assert "$ref" not in json.dumps(info["parameters"]), info["name"]
        assert info["parameters"]["additionalProperties"] is False
        assert set(info["required"]) <= set(info["parameters"]["properties"])
    assert "syscall_latency: Latency of one syscall" in result.content[0].text


async def test_list_templates_filters_by_words(client) -> None:  # type: ignore[no-untyped-def]
    names = [info["name"] for info in (await client.call_tool("list_templates", {"query": "tcp"})).structured_content["templates"]]
    assert {"tcp_lifecycle", "tcp_retransmits", "tcp_connect_latency"} <= set(names)
    assert "cpu_profile" not in names
    empty = (await client.call_tool("list_templates", {"query": "zebra crossing"})).structured_content
    assert empty["templates"] == [] and empty["total"] == len(CORE)


@requires_bpftrace
async def test_list_templates_says_what_this_host_cannot_run(client, services) -> None:  # type: ignore[no-untyped-def]
    usable = {name: status.usable for name, status in (await services.backend("bpftrace").probe_types()).items()}
    infos = {info["name"]: info for info in (await client.call_tool("list_templates", {})).structured_content["templates"]}
    kernel = infos["kernel_function_latency"]
    assert kernel["usable_here"] is usable["kprobe"]
    assert kernel["missing"] == ([] if usable["kprobe"] else ["probe type kprobe"])
    assert infos["syscall_counts"]["usable_here"] is True and infos["syscall_counts"]["missing"] == []


@requires_bpftrace
async def test_find_capabilities_finds_templates_and_says_which_run_here(client, services) -> None:  # type: ignore[no-untyped-def]
    usable = {name: status.usable for name, status in (await services.backend("bpftrace").probe_types()).items()}
    found = await client.call_tool(
        "find_capabilities", {"query": "how long one system call takes", "kinds": ["template"], "limit": 3}
    )
    assert not found.is_error, found.content
    top = found.structured_content["results"][0]
    assert (top["kind"], top["id"], top["source"]) == ("template", "syscall_latency", "core-templates")
    assert top["runnable"] and top["missing"] == [] and "generate_from_template" in top["usage"]
    kernel = await client.call_tool(
        "find_capabilities", {"query": "latency of a kernel function", "kinds": ["template"], "limit": 3}
    )
    hit = next(r for r in kernel.structured_content["results"] if r["id"] == "kernel_function_latency")
    assert hit["runnable"] is usable["kprobe"]
    assert hit["missing"] == ([] if usable["kprobe"] else ["probe type kprobe"])


@requires_bpftrace
async def test_generate_returns_the_program_its_probes_and_its_validation(client) -> None:  # type: ignore[no-untyped-def]
    parameters = {"syscall": "openat", "by": "process", "comm": '"); system("id', "interval_s": "5s"}
    result = await client.call_tool("generate_from_template", {"template_name": "syscall_latency", "parameters": parameters})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["program"] == render(CORE["syscall_latency"], parameters).program
    assert data["probes"] == ["tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_exit_openat", "interval:s:5", "END"]
    validation = data["validation"]
    assert validation["valid"] is True and validation["errors"] == [] and validation["verdict"] == "allow"
    assert {probe["spec"] for probe in validation["probes"]} >= {"tracepoint:syscalls:sys_enter_openat"}
    assert validation["estimated_cost"] and [layer["layer"] for layer in validation["layers"]][:3] == [
        "parse", "compile", "probes",
    ]
    assert data["parameters"]["interval_s"] == 5 and data["parameters"]["output"] == "hist"
    assert "exec_program" in data["next_step"] and "valid; verdict allow" in result.content[0].text


@requires_bpftrace
async def test_a_program_bpftrace_refuses_comes_back_with_structured_errors(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("generate_from_template", {"template_name": "syscall_latency", "parameters": {"syscall": "nosuch"}})
    assert not result.is_error
    validation = result.structured_content["validation"]
    assert validation["valid"] is False
    assert validation["errors"][0]["category"] == "probe_not_found"
    assert "sys_enter_nosuch" in validation["errors"][0]["message"] and validation["errors"][0]["hint"]
    assert "fix the parameters" in result.structured_content["next_step"]


async def test_check_false_skips_bpftrace(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("generate_from_template", {"template_name": "cpu_profile", "parameters": {}, "check": False})
    assert not result.is_error and result.structured_content["validation"] is None
    assert result.structured_content["probes"] == ["profile:hz:49"]


@pytest.mark.parametrize(("arguments", "says"), [
    ({"template_name": "syscall_latency", "parameters": {"pid": 0}}, "parameters.pid: Input should be greater than or equal to 1"),
    ({"template_name": "syscall_latency", "parameters": {"comm": "x" * 16}}, "parameters.comm"),
    ({"template_name": "syscall_latency", "parameters": {"syscall": "read; system"}}, "parameters.syscall"),
    ({"template_name": "probe_counts", "parameters": {"probe": "tracepoint:a:b { system(\"id\") }"}}, "parameters.probe"),
    ({"template_name": "user_function_latency", "parameters": {"function": "main"}}, "parameters.binary: Field required"),
    ({"template_name": "user_function_latency", "parameters": {"binary": "/tmp/no such binary", "function": "main"}}, "parameters.binary"),
    ({"template_name": "syscall_latncy", "parameters": {}}, "did you mean syscall_latency"),
    ({"template_name": "Bad Name", "parameters": {}}, "template_name"),
    ({"template_name": "syscall_latency", "parameters": {"output": "printf", "top": 3}}, "top applies to map outputs"),
])
async def test_bad_requests_are_errors_naming_the_parameter(client, arguments: dict[str, Any], says: str) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("generate_from_template", arguments)
    assert result.is_error and says in result.content[0].text, result.content[0].text


@requires_bpftrace
async def test_a_generated_program_runs_through_exec_program(client) -> None:  # type: ignore[no-untyped-def]
    generated = await client.call_tool("generate_from_template", {"template_name": "syscall_counts", "parameters": {"duration_s": 1, "top": 5}})
    run = await client.call_tool("exec_program", {"program": generated.structured_content["program"], "timeout_s": 30, "wait": True})
    assert not run.is_error, run.content
    data = run.structured_content
    assert data["status"] == "completed" and data["exit_code"] == 0
    [syscalls] = [m for m in data["maps"] if m["name"] == "@syscalls"]
    assert 1 <= len(syscalls["entries"]) <= 5


# -- full exposure: one tool per template -----------------------------------------------------------


@pytest.fixture
async def full_services(tmp_path: Path) -> AsyncIterator[Services]:
    created = Services.create(load_settings(tmp_path / "absent.toml", {"server": {"exposure": "full"}}))
    yield created
    await created.aclose()


async def test_compact_mode_has_no_per_template_tools(client) -> None:  # type: ignore[no-untyped-def]
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"list_templates", "generate_from_template"} <= names
    assert not [name for name in names if name.startswith("template_")]


async def test_full_mode_makes_each_template_a_tool(full_services: Services) -> None:
    from mcp import Client

    from mcptrace_core.server import build_server

    async with Client(build_server(full_services), mode="legacy") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        template_tools = {name for name in tools if name.startswith("template_")}
        assert template_tools == {f"template_{name}" for name in CORE}
        latency = tools["template_syscall_latency"]
        assert "$ref" not in json.dumps(latency.input_schema) and "syscall" in latency.input_schema["properties"]
        assert latency.annotations.read_only_hint is True and "does not run it" in latency.description
        result = await client.call_tool("template_syscall_counts", {"by": "syscall", "comm": "bash"})
        assert not result.is_error, result.content
        assert '@syscalls[args->id] = count();' in result.structured_content["program"]
        assert result.structured_content["parameters"]["comm"] == "bash"
        refused = await client.call_tool("template_syscall_counts", {"by": "everything"})
        assert refused.is_error and "by:" in refused.content[0].text and "'process'" in refused.content[0].text


def test_the_tools_hook_sees_template_packs_of_other_plugins(settings: Settings) -> None:
    seen: list[list[str]] = []

    class Watcher:
        @hookimpl
        def mcptrace_tools(self, registry: Registry) -> list[Any]:
            seen.append([pack.name for pack in registry.template_packs])
            return []

    class Packs:
        mcptrace_template_packs = staticmethod(hookimpl(mcptrace_template_packs))

    pm = build_plugin_manager(load_entry_points=False, plugins=[("watcher", Watcher()), ("packs", Packs())])
    build_registry(pm, settings)
    assert seen == [["core-templates"]]


# -- the command line ---------------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})


def _json(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, list(args))
    return json.loads(result.stdout), result.exit_code  # exactly one document, or this raises


def test_cli_list_and_show(runner: CliRunner) -> None:
    data, code = _json(runner, "templates", "list", "block", "latency", "--json")
    assert code == 0 and data["templates"][0]["name"] == "block_io_latency"
    shown, code = _json(runner, "templates", "show", "user_function_latency", "--json")
    assert code == 0 and shown["template"]["required"] == ["binary", "function"]
    assert "uretprobe:" in shown["example"]["program"]
    text = runner.invoke(cli, ["templates", "show", "offcpu_time"]).stdout
    assert "parameters:" in text and "threshold (default '0ns')" in text and "tracepoint:sched:sched_switch" in text
    missing, code = _json(runner, "templates", "show", "nope", "--json")
    assert code == 1 and "no template named 'nope'" in missing["error"]


def test_cli_render_prints_the_program_alone_on_stdout(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["templates", "render", "syscall_counts", "by=syscall", "pid=1", "--no-check"])
    assert result.exit_code == 0
    assert result.stdout == render(CORE["syscall_counts"], {"by": "syscall", "pid": 1}).program
    data, code = _json(runner, "templates", "render", "syscall_counts", "pid=0", "--json")
    assert code == 1 and "parameters.pid" in data["error"]
    data, code = _json(runner, "templates", "render", "syscall_counts", "pid", "--json")
    assert code == 1 and "KEY=VALUE" in data["error"]


@requires_bpftrace
def test_cli_render_checks_and_fails_on_an_invalid_program(runner: CliRunner) -> None:
    data, code = _json(runner, "templates", "render", "syscall_latency", "syscall=nosuch", "--json")
    assert code == 1 and data["validation"]["errors"][0]["category"] == "probe_not_found"
    result = runner.invoke(cli, ["templates", "render", "syscall_latency", "syscall=read", "threshold=5ms", "output=printf"])
    assert result.exit_code == 0 and "if ($ns >= 5000000)" in result.stdout


def test_cli_help_explains_templates(runner: CliRunner) -> None:
    for args, example in ((["templates", "--help"], "mcptrace templates render"), (["templates", "render", "--help"], "KEY=VALUE")):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and example in result.stdout, result.stdout
