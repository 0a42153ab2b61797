"""`mcptrace serve` over stdio as a real subprocess: tools work, bad bytes do not crash it, no orphans survive."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

MCPTRACE = shutil.which("mcptrace") or str(Path(sys.executable).with_name("mcptrace"))
LONG_PROGRAM = "interval:ms:100 { @ticks = count(); }"


def _params(tmp_path: Path) -> StdioServerParameters:
    env = {**os.environ, "MCPTRACE_CONFIG": str(tmp_path / "absent.toml")}
    return StdioServerParameters(command=MCPTRACE, args=["serve"], env=env)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


async def _until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await anyio.sleep(0.1)


@requires_bpftrace
async def test_tools_over_stdio(tmp_path: Path) -> None:
    async with Client(_params(tmp_path)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"bpf_info", "list_probes", "exec_program", "get_result", "stop_execution"} <= names
        result = await client.call_tool("exec_program", {"program": 'BEGIN { printf("over stdio\\n"); exit(); }', "wait": True})
        assert not result.is_error and "over stdio" in result.structured_content["lines"]
        nul = await client.call_tool("exec_program", {"program": "BEGIN {\x00}"})
        assert nul.is_error and "NUL" in nul.content[0].text
        wrong_type = await client.call_tool("list_probes", {"limit": "many"})
        assert wrong_type.is_error and "limit" in wrong_type.content[0].text
        still = await client.call_tool("list_executions", {})
        assert not still.is_error


def _spawn_server(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MCPTRACE_CONFIG": str(tmp_path / "absent.toml")}
    return subprocess.Popen([MCPTRACE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _rpc(server: subprocess.Popen[bytes], message: dict) -> None:  # type: ignore[type-arg]
    assert server.stdin is not None
    server.stdin.write(json.dumps(message).encode() + b"\n")
    server.stdin.flush()


def _read_response(server: subprocess.Popen[bytes], request_id: int) -> dict:  # type: ignore[type-arg]
    assert server.stdout is not None
    while True:
        line = server.stdout.readline()
        assert line, "server closed stdout"
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def _initialize(server: subprocess.Popen[bytes]) -> None:
    _rpc(server, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert "result" in _read_response(server, 1)
    _rpc(server, {"jsonrpc": "2.0", "method": "notifications/initialized"})


def test_invalid_utf8_and_garbage_do_not_crash_the_server(tmp_path: Path) -> None:
    server = _spawn_server(tmp_path)
    try:
        _initialize(server)
        assert server.stdin is not None
        server.stdin.write(b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "exec_program", '
                           b'"arguments": {"program": "BEGIN { printf(\\"\xff\xfe\\"); }"}}}\n')
        server.stdin.write(b"this is not json\n")
        server.stdin.flush()
        # A lone surrogate escape: the SDK's JSON parser rejects the message before any tool sees it.
        _rpc(server, {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "exec_program", "arguments": {"program": "BEGIN { printf(\"\ud800\"); }"}}})
        _rpc(server, {"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
        listed = _read_response(server, 8)
        assert {tool["name"] for tool in listed["result"]["tools"]} >= {"exec_program"}
    finally:
        server.kill()
        server.wait()


async def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    server = _spawn_server(tmp_path)
    _initialize(server)
    for request_id in (2, 3):
        _rpc(server, {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                      "params": {"name": "exec_program", "arguments": {"program": LONG_PROGRAM, "timeout_s": 120}}})
        response = _read_response(server, request_id)
        assert not response["result"].get("isError"), response
    await _until(lambda: len([pid for pid in _children(server.pid) if _comm(pid) == "bpftrace"]) == 2)
    return server, [pid for pid in _children(server.pid) if _comm(pid) == "bpftrace"]


@requires_bpftrace
async def test_no_bpftrace_outlives_a_client_disconnect(tmp_path: Path) -> None:
    server, tracers = await _start_long_run(tmp_path)
    assert server.stdin is not None
    server.stdin.close()  # the client goes away: stdin EOF
    assert server.wait(timeout=20) == 0
    await _until(lambda: not any(_alive(pid) for pid in tracers))


@requires_bpftrace
async def test_no_bpftrace_outlives_sigterm(tmp_path: Path) -> None:
    server, tracers = await _start_long_run(tmp_path)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=20)
    await _until(lambda: not any(_alive(pid) for pid in tracers))
    assert server.stderr is not None
    assert b"shutting down" in server.stderr.read()


@requires_bpftrace
async def test_no_bpftrace_outlives_a_killed_server(tmp_path: Path) -> None:
    server, tracers = await _start_long_run(tmp_path)
    server.kill()  # SIGKILL: no cleanup code runs; the kernel's parent-death signal stops the tracers
    server.wait(timeout=20)
    await _until(lambda: not any(_alive(pid) for pid in tracers))
