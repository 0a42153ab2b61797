"""The BCC tools through the MCP tools, for real: runs with generated activity, parsed output, refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import pytest

from mcptrace_core.server import build_server
from mcptrace_core.services import Services
from tests.conftest import libbpf_tool
from tests.validation_support import answering, mcp_client, settings_with

pytestmark = pytest.mark.anyio

HAVE_LIBBPF_TOOLS = all(libbpf_tool(name) for name in ("execsnoop", "opensnoop", "syscount", "runqlat"))
requires_bcc = pytest.mark.skipif(
    not (HAVE_LIBBPF_TOOLS and os.geteuid() == 0),
    reason="needs root and libbpf-tools (.ci/run installs libbpf-tools and bpfcc-tools and runs as root)",
)
NO_KPROBES = not any(Path(root, "kprobe_events").exists() for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))
NO_HEADERS = not (Path("/lib/modules", os.uname().release, "build").exists() or Path("/sys/kernel/kheaders.tar.xz").exists())


async def _call(client, tool: str, **arguments):  # type: ignore[no-untyped-def]
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def _error(client, tool: str, **arguments) -> str:  # type: ignore[no-untyped-def]
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def _started(client, tool_name: str, **arguments):  # type: ignore[no-untyped-def]
    """Start a tool and return once it printed its header, i.e. once it is attached."""
    started = await _call(client, "exec_bcc_tool", tool_name=tool_name, **arguments)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        data = await _call(client, "get_result", execution_id=started["execution_id"], wait_s=0.5)
        assert data["status"] == "running", data
        if data["total_lines"]:
            return started
    raise AssertionError(f"{tool_name} printed nothing within 15 s")


def _rows(data: dict) -> list[dict]:  # type: ignore[type-arg]
    return [row["values"] for table in data["tables"] for row in table["rows"]]


@requires_bcc
async def test_execsnoop_sees_a_command_the_test_runs(tmp_path: Path) -> None:
    """execsnoop prints arguments (content): the user is asked, says yes, and the run sees the command."""
    marker = f"mcptrace-{uuid.uuid4().hex[:10]}"
    asked: list[str] = []
    async with mcp_client(settings_with(tmp_path), "legacy", answering(True, asked)) as (client, _):
        started = await _started(client, "execsnoop", arguments={"name": "echo"}, timeout_s=30)
        assert len(asked) == 1 and "tool-captures-content" in asked[0]
        assert started["command"] == ["--name=echo"] and started["derived_arguments"] == {}
        subprocess.run([shutil.which("echo") or "/bin/echo", marker], check=True, capture_output=True)
        await anyio.sleep(0.5)
        await _call(client, "stop_execution", execution_id=started["execution_id"])
        data = await _call(client, "get_result", execution_id=started["execution_id"], limit=5000)
    assert data["status"] == "stopped" and data["tables"][0]["columns"][:3] == ["PCOMM", "PID", "PPID"]
    (row,) = [row for row in _rows(data) if marker in str(row.get("ARGS"))]
    assert row["PCOMM"] == "echo" and isinstance(row["PID"], int) and row["RET"] == 0


@requires_bcc
async def test_opensnoop_sees_a_file_the_test_opens(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"opened-{uuid.uuid4().hex[:8]}.txt"
    started = await _started(client, "opensnoop", arguments={"pid": os.getpid()}, timeout_s=20)
    assert started["derived_arguments"] == {"duration": 20}  # the tool ends itself, with its summary
    target.write_text("hello")
    assert target.read_text() == "hello"

    async def rows_of_target() -> list[dict]:  # type: ignore[type-arg]
        data = await _call(client, "get_result", execution_id=started["execution_id"], limit=5000, wait_s=0.5)
        return [row for row in _rows(data) if row.get("PATH") == str(target)]

    deadline = time.monotonic() + 15  # a loaded machine may be slow to read the tool's events
    while len(await rows_of_target()) < 2 and time.monotonic() < deadline:
        pass
    await _call(client, "stop_execution", execution_id=started["execution_id"])
    opened = await rows_of_target()
    assert len(opened) >= 2 and all(row["PID"] == os.getpid() and row["ERR"] == 0 for row in opened), opened


@requires_bcc
async def test_syscount_produces_a_parsed_table(client) -> None:  # type: ignore[no-untyped-def]
    data = await _call(client, "exec_bcc_tool", tool_name="syscount", arguments={"top": 4}, timeout_s=1, wait=True)
    assert data["status"] == "completed" and data["command"] == ["--top=4", "--duration=1"]
    (table,) = data["tables"]
    assert table["columns"] == ["SYSCALL", "COUNT"]
    rows = [row["values"] for row in table["rows"]]
    assert 1 <= len(rows) <= 4 and all(isinstance(row["COUNT"], int) and row["COUNT"] > 0 for row in rows)
    assert [row["COUNT"] for row in rows] == sorted((row["COUNT"] for row in rows), reverse=True)
    assert data["lines"][table["header_line"] - data["offset"]].startswith("SYSCALL")


@requires_bcc
async def test_runqlat_produces_a_histogram(client) -> None:  # type: ignore[no-untyped-def]
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])  # contention, so tasks wait for a CPU
    try:
        data = await _call(client, "exec_bcc_tool", tool_name="runqlat", timeout_s=1, wait=True)
    finally:
        busy.kill()
    assert data["status"] == "completed" and data["derived_arguments"] == {"interval": 1, "count": 1}
    (hist,) = data["maps"]
    assert hist["name"] == "usecs" and hist["kind"] == "hist"
    buckets = hist["entries"][0]["buckets"]
    assert sum(bucket["count"] for bucket in buckets) > 0
    assert all(b["high"] == 2 * b["low"] for b in buckets if b["low"]) and buckets[0] == {**buckets[0], "low": 0}


@requires_bcc
async def test_runqlat_per_process_histograms_are_keyed_by_their_label(client) -> None:  # type: ignore[no-untyped-def]
    data = await _call(client, "exec_bcc_tool", tool_name="runqlat", arguments={"pids": True}, timeout_s=1, wait=True)
    (hist,) = data["maps"]
    keys = [entry["key"] for entry in hist["entries"]]
    assert keys and all(key.startswith("pid=") for key in keys) and len(set(keys)) == len(keys)


@requires_bcc
async def test_bad_arguments_are_rejected_naming_the_flag(client) -> None:  # type: ignore[no-untyped-def]
    unknown = await _error(client, "exec_bcc_tool", tool_name="execsnoop", arguments={"bogus": 1})
    assert "arguments.bogus" in unknown and "name (-n/--name, str)" in unknown and "uid (-u/--uid, int)" in unknown
    typed = await _error(client, "exec_bcc_tool", tool_name="opensnoop", arguments={"pid": "abc"})
    assert "arguments.pid (-p/--pid)" in typed and "whole number" in typed
    flag = await _error(client, "exec_bcc_tool", tool_name="execsnoop", arguments={"-T": "yes"})
    assert "arguments.-T (-T/--time)" in flag and "true or false" in flag
    control = await _error(client, "exec_bcc_tool", tool_name="execsnoop", arguments={"name": "a\nb"})
    assert "arguments.name" in control and "control characters" in control
    dash = await _error(client, "exec_bcc_tool", tool_name="runqslower", arguments={"min_us": -5})
    assert "arguments.min_us" in dash and "may not start with '-'" in dash
    order = await _error(client, "exec_bcc_tool", tool_name="runqlat", arguments={"count": 2})
    assert "arguments.count" in order and "give interval too" in order
    assert "tool_name" in await _error(client, "exec_bcc_tool", tool_name="execsnoop; rm -rf /")
    assert "no BCC tool called 'nosuchtool'" in await _error(client, "exec_bcc_tool", tool_name="nosuchtool")


@requires_bcc
@pytest.mark.skipif(not NO_KPROBES, reason="this kernel has kprobes, so kprobe-based tools run here")
async def test_a_kprobe_tool_gets_a_clear_error_with_the_reason(client) -> None:  # type: ignore[no-untyped-def]
    text = await _error(client, "exec_bcc_tool", tool_name="tcpconnect")
    assert text.startswith("tcpconnect cannot run on this host: needs kprobes") and "CONFIG_KPROBES" in text


@requires_bcc
@pytest.mark.skipif(not Path("/usr/sbin/opensnoop-bpfcc").exists() or not NO_HEADERS,
                    reason="needs bpfcc-tools installed and no kernel headers (.ci/run installs bpfcc-tools)")
async def test_a_python_tool_without_kernel_headers_points_to_its_libbpf_twin(client) -> None:  # type: ignore[no-untyped-def]
    text = await _error(client, "exec_bcc_tool", tool_name="opensnoop-bpfcc")
    assert "needs the running kernel's headers" in text and "linux-headers-" in text
    assert "'opensnoop' does the same and runs here" in text


@requires_bcc
async def test_list_bcc_tools_says_what_runs_here_and_why_not(client) -> None:  # type: ignore[no-untyped-def]
    data = await _call(client, "list_bcc_tools", limit=500)
    tools = {tool["name"]: tool for tool in data["tools"]}
    assert data["total"] == len(tools) >= 4 and data["usable"] >= 4
    execsnoop, runqlat = tools["execsnoop"], tools["runqlat"]
    assert execsnoop["usable_here"] is True and execsnoop["kind"] == "libbpf" and execsnoop["description"]
    assert {"name", "uid", "timestamp"} <= {option["name"] for option in execsnoop["options"]}
    assert [(p["name"], p["value"], p["required"]) for p in runqlat["positionals"]] == [
        ("interval", "int", False), ("count", "int", False)]
    order = [tool["usable_here"] for tool in data["tools"]]
    assert order == sorted(order, key=lambda usable: {True: 0, None: 1, False: 2}[usable])
    if NO_KPROBES and "tcpconnect" in tools:
        assert tools["tcpconnect"]["usable_here"] is False and "kprobes" in tools["tcpconnect"]["reason"]
    if NO_HEADERS and "biolatency-bpfcc" in tools:
        assert tools["biolatency-bpfcc"]["usable_here"] is False and tools["biolatency-bpfcc"]["fix"]
    latency = await _call(client, "list_bcc_tools", query="run queue latency", usable_only=True)
    names = [tool["name"] for tool in latency["tools"]]
    assert "runqlat" in names and "execsnoop" not in names and all(t["usable_here"] for t in latency["tools"])


@requires_bcc
async def test_full_exposure_gives_each_usable_tool_a_flat_mcp_tool(services, settings) -> None:  # type: ignore[no-untyped-def]
    catalog = services.backend("bcc").catalog
    for name in ("syscount", "execsnoop", "tcpconnect"):
        await catalog.tool(name)  # learned once; the full mode's tool list comes from these caches
    full = Services.create(settings.model_copy(update={"server": settings.server.model_copy(update={"exposure": "full"})}))
    try:
        from mcp import Client

        async with Client(build_server(full), mode="legacy") as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert "exec_bcc_tool" in listed and "bcc_syscount" in listed and "bcc_execsnoop" in listed
            if NO_KPROBES:
                assert "bcc_tcpconnect" not in listed
            schema = listed["bcc_syscount"].input_schema
            assert "$ref" not in str(schema) and "$defs" not in schema
            properties = schema["properties"]
            assert properties["latency"]["type"] == "boolean" and properties["top"]["anyOf"][0]["type"] == "integer"
            assert {"timeout_s", "wait"} <= set(properties) and schema.get("additionalProperties") is False
            assert all(set(p) - {"anyOf", "default", "description", "title"} <= {"type", "maxLength", "minLength",
                       "exclusiveMinimum", "maximum", "enum"} for p in properties.values())
            result = await client.call_tool("bcc_syscount", {"top": 2, "timeout_s": 1, "wait": True})
            assert not result.is_error, result.content[0].text
            data = result.structured_content
            assert data["command"] == ["--top=2", "--duration=1"] and len(data["tables"][0]["rows"]) <= 2
            bad = await client.call_tool("bcc_syscount", {"top": "many"})
            assert bad.is_error and "top" in bad.content[0].text
    finally:
        await full.aclose()


@requires_bcc
async def test_a_tool_that_needs_arguments_fails_with_a_structured_error(client) -> None:  # type: ignore[no-untyped-def]
    data = await _call(client, "exec_bcc_tool", tool_name="funclatency", arguments={"function": "do_nanosleep"},
                       timeout_s=2, wait=True) if not NO_KPROBES else None
    if data is None:  # without kprobes funclatency is known unusable; ksnoop could not be tried without arguments
        data = await _call(client, "exec_bcc_tool", tool_name="ksnoop", timeout_s=2, wait=True)
    assert data["status"] == "failed" and data["exit_code"] not in (0, None)
    (error,) = data["errors"]
    assert error["category"] in ("input", "unsupported_feature") and error["message"] and error["hint"]


@requires_bcc
async def test_doctor_covers_every_installed_tool(services) -> None:  # type: ignore[no-untyped-def]
    backend = services.backend("bcc")
    checks = {check.name: check for check in await backend.doctor()}
    assert checks["libbpf-tools installed"].ok and checks["libbpf tools usable here"].ok
    assert all(check.fix for check in checks.values() if not check.ok)


@requires_bcc
async def test_a_libbpf_tool_is_listed_and_found_by_its_plain_name_whatever_the_package_calls_it(
    services,  # type: ignore[no-untyped-def]
) -> None:
    """Debian 13 installs /usr/sbin/runqlat-libbpf; Debian 12 /usr/sbin/runqlat: both are 'runqlat'."""
    catalog = services.backend("bcc").catalog
    path = libbpf_tool("runqlat")
    assert catalog.resolve("runqlat").path == path
    assert catalog.resolve("runqlat-libbpf").path == path
    assert "runqlat" in catalog.files() and "runqlat-libbpf" not in catalog.files()
    if Path("/usr/sbin/runqlat-bpfcc").exists():
        assert catalog.resolve("runqlat-bpfcc").kind == "bcc-python"
