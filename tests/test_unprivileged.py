"""mcptrace as the user an MCP client really runs it as: not root.

Without privilege, `mcptrace doctor` and bpf_info report what works and the exact fix, never a traceback.
After `mcptrace setup sudo --user U` (as root), the same user traces for real through `mcptrace serve` over
stdio, driven by the MCP client: a bpftrace run whose policy limits pass sudo, a BCC tool, a stop that
keeps the maps, the history. The sudoers rule allows the tracers and nothing else.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcptrace_bpftrace.executable import locate
from tests.conftest import requires_bpftrace
from tests.unprivileged_support import User, installed_mcptrace, missing_tools, new_user

pytestmark = [
    requires_bpftrace,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (apt-get install -y sudo)"),
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def mcptrace_for_users() -> Iterator[Path]:
    with installed_mcptrace() as command:
        yield command


@pytest.fixture
def user(mcptrace_for_users: Path) -> Iterator[User]:
    with new_user(mcptrace_for_users) as created:
        yield created


def setup_sudo(user: User, *extra: str) -> subprocess.CompletedProcess[str]:
    """`mcptrace setup sudo` as root, the administrator's side (with root's environment, none of the user's)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"], "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    return subprocess.run([user.mcptrace, "setup", "sudo", "--user", user.name, *extra], capture_output=True,
                          text=True, env=env, timeout=600, check=False)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content[0].text if result.content else result}"
    assert result.structured_content is not None
    return result.structured_content


async def poll(client: Client, execution_id: str, until: Any, timeout: float = 120.0) -> dict[str, Any]:
    """get_result until ``until(result)`` holds (generous: the machine may be loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await call(client, "get_result", {"execution_id": execution_id, "limit": 1000})
        if until(result):
            return result
        assert time.monotonic() < deadline, f"condition not reached; last result: {json.dumps(result)[:2000]}"
        await anyio.sleep(0.3)


@pytest.mark.anyio
async def test_without_privilege_doctor_and_bpf_info_say_what_works_and_the_fix(user: User) -> None:
    doctor = user.run("doctor", "--json")
    assert doctor.returncode == 0, doctor.stderr
    assert "Traceback" not in doctor.stderr
    report = json.loads(doctor.stdout)
    bpftrace = {check["name"]: check for check in report["backends"]["bpftrace"]}
    assert bpftrace["bpftrace installed"]["ok"]
    assert bpftrace["tracefs mounted"]["ok"]  # mounted, though only root may read it
    assert not bpftrace["privilege"]["ok"]
    assert f"sudo mcptrace setup sudo --user {user.name}" in bpftrace["privilege"]["fix"]
    bcc = {check["name"]: check for check in report["backends"]["bcc"]}
    assert not bcc["privilege"]["ok"] and f"--user {user.name}" in bcc["privilege"]["fix"]

    not_root = user.run("setup", "sudo", "--user", user.name)
    assert not_root.returncode != 0 and "needs root" in not_root.stderr and "Traceback" not in not_root.stderr
    installed = user.run("install", "claude-code", "--path", str(user.home / "mcp.json"))
    assert installed.returncode == 0 and f"setup sudo --user {user.name}" in installed.stderr
    # --sudo runs `sudo mcptrace setup sudo` for the user; without a sudo right of its own it fails, and says so.
    offered = user.run("install", "claude-code", "--path", str(user.home / "mcp.json"), "--sudo")
    assert offered.returncode == 1 and "failed: have an administrator run it" in offered.stderr, offered.stderr
    assert "mcptrace" in json.loads((user.home / "mcp.json").read_text())["mcpServers"]
    # With --config, the client's server reads that file, and the advice is judged by it: none is needed here.
    granted = user.home / "granted.toml"
    granted.write_text('[privilege]\nprefix = ["sudo", "-n"]\n')
    os.chown(granted, user.uid, user.gid)
    configured = user.run("--config", str(granted), "install", "claude-code", "--path", str(user.home / "mcp2.json"))
    assert configured.returncode == 0 and "setup sudo" not in configured.stderr, configured.stderr
    entry = json.loads((user.home / "mcp2.json").read_text())["mcpServers"]["mcptrace"]
    assert entry["args"] == ["--config", str(granted), "serve"]

    async with Client(user.server()) as client:
        info = await call(client, "bpf_info", {})
        assert info["root"] is False and info["bpftrace_path"]
        assert info["probe_types"] == {}  # nothing can be tried without privilege, and it says so
        fixes = [check["fix"] for check in info["checks"] if not check["ok"]]
        assert any(f"setup sudo --user {user.name}" in (fix or "") for fix in fixes)
        tools = await call(client, "list_bcc_tools", {"usable_only": True})
        assert tools["total"] == 0 and f"setup sudo --user {user.name}" in tools["privilege_problem"]
        refused = await client.call_tool("exec_program", {"program": "BEGIN { exit(); }", "timeout": 5})
        assert refused.is_error and "setup sudo" in refused.content[0].text


@pytest.mark.anyio
async def test_after_setup_sudo_the_user_traces_through_the_mcp_client(user: User) -> None:
    shown = setup_sudo(user, "--print")
    assert shown.returncode == 0, shown.stderr
    rule_path = Path(f"/etc/sudoers.d/mcptrace-{user.name}")
    assert not rule_path.exists(), "--print wrote the rule"
    assert f"#{user.uid} ALL=(root) NOPASSWD:" in shown.stdout

    done = setup_sudo(user)
    assert done.returncode == 0, done.stderr
    info = rule_path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o440 and info.st_uid == 0
    assert subprocess.run(["visudo", "-c", "-f", str(rule_path)], capture_output=True).returncode == 0
    config = tomllib.loads(user.config.read_text())
    assert config["privilege"]["prefix"] == ["sudo", "-n"]
    assert user.config.stat().st_uid == user.uid  # written as the user, not as root

    doctor = user.run("doctor", "--json")
    assert doctor.returncode == 0, doctor.stderr
    checks = {check["name"]: check for check in json.loads(doctor.stdout)["backends"]["bpftrace"]}
    assert checks["privilege"]["ok"] and checks["tracepoint probes"]["ok"], checks

    marker = "mcpt-" + uuid.uuid4().hex[:10]
    async with Client(user.server()) as client:
        host = await call(client, "bpf_info", {})
        assert "tracepoint" in host["usable_probe_types"] and host["privilege_prefix"] == ["sudo", "-n"]

        # A run with MCPtrace's argument name; the standard policy's BPFTRACE_* limits go through sudo.
        run = await call(client, "exec_program", {
            "program": f'BEGIN {{ printf("{marker} %d\\n", 6 * 7); exit(); }}', "timeout": 20, "wait": True,
        })
        assert run["status"] == "completed", run
        assert f"{marker} 42" in run["lines"]
        # The run compiled it (a program never seen), and the compile cache keeps that under the key a check
        # through sudo uses: the same program again is not compiled twice.
        compiled = {layer["layer"]: layer["detail"] for layer in run["validation"]["layers"]}["compile"]
        assert compiled == "bpftrace compiled the program as the run started", run["validation"]
        again = await call(client, "exec_program", {
            "program": f'BEGIN {{ printf("{marker} %d\\n", 6 * 7); exit(); }}', "timeout": 20, "wait": True,
        })
        compiled = {layer["layer"]: layer for layer in again["validation"]["layers"]}["compile"]
        assert (compiled["state"], compiled["detail"]) == ("passed", ""), again["validation"]  # from the cache

        # A run stopped early keeps its maps: ticks every 100 ms, stopped after at least 5 of them.
        ticking = await call(client, "exec_program", {"program": "interval:ms:100 { @ticks = count(); }", "timeout": 120})
        await poll(client, ticking["execution_id"], lambda r: r["status"] == "running")
        await anyio.sleep(1.5)
        stopped = (await call(client, "stop_execution", {"execution_id": ticking["execution_id"]}))["execution"]
        assert stopped["status"] == "stopped", stopped
        ticks = {m["name"]: m for m in stopped["maps"]}["@ticks"]["entries"][0]["value"]
        assert 5 <= ticks <= 1200, ticks  # at least the 0.5 s waited for; never more than the 120 s timeout allows

        # A BCC tool (libbpf opensnoop) through sudo: it sees a file this test opens. (execsnoop prints
        # command lines, content the standard policy asks the user about first.)
        tools = await call(client, "list_bcc_tools", {"query": "open", "usable_only": True})
        assert "opensnoop" in {tool["name"] for tool in tools["tools"]}, tools
        opened = user.home / f"{marker}.txt"  # removed with the home
        opened.write_text("read by the test\n")
        snoop = await call(client, "exec_bcc_tool", {"tool_name": "opensnoop", "arguments": {}, "timeout": 60})
        await poll(client, snoop["execution_id"], lambda r: r["status"] == "running" and r["total_lines"] >= 1)
        deadline = time.monotonic() + 60
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            subprocess.run(["/bin/cat", str(opened)], capture_output=True, check=True)
            seen = await call(client, "get_result", {"execution_id": snoop["execution_id"], "limit": 1000})
            if any(marker in line for line in seen["lines"]):
                break
            await anyio.sleep(0.5)
        assert any(marker in line for line in seen["lines"]), seen["lines"][-20:]
        await call(client, "stop_execution", {"execution_id": snoop["execution_id"]})

        # The history (the user's own database) has the run, found by its words.
        found = await call(client, "search_history", {"query": marker, "limit": 5})
        # (the two runs of one program are one result: the latest)
        assert again["execution_id"] in {hit["id"] for hit in found["runs"]}, found

    # What the run was started with: the limits on sudo's command line, which the rule let through.
    history = sqlite3.connect(f"file:{user.home / '.local/share/mcptrace/history.sqlite3'}?mode=ro", uri=True)
    try:
        (parameters,) = history.execute("select parameters from runs where id = ?", (run["execution_id"],)).fetchone()
    finally:
        history.close()
    started = json.loads(parameters)["argv"]
    assert started[:2] == ["sudo", "-n"] and started[2].startswith("BPFTRACE_"), started[:6]

    removed = setup_sudo(user, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert not rule_path.exists()
    assert "prefix" not in tomllib.loads(user.config.read_text()).get("privilege", {})


def test_the_sudoers_rule_allows_the_tracers_and_refuses_everything_else(user: User) -> None:
    done = setup_sudo(user)
    assert done.returncode == 0, done.stderr
    rule = Path(f"/etc/sudoers.d/mcptrace-{user.name}").read_text()
    bpftrace = tomllib.loads(user.config.read_text())["bpftrace"]["path"]

    def as_user(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(user.argv("sudo", "-n", *argv), capture_output=True, text=True, env=user.environment(),
                              timeout=120, check=False)

    strlen = locate(bpftrace).features.env_name("BPFTRACE_STRLEN")  # as this build reads it (renamed in 0.23)
    allowed = as_user(f"{strlen}=16", bpftrace, "-e", 'BEGIN { printf("allowed\\n"); exit(); }')
    assert allowed.returncode == 0 and "allowed" in allowed.stdout, allowed.stderr
    refused = {
        "a shell": ["/bin/sh", "-c", "id"],
        "env, which would run anything": ["/usr/bin/env", bpftrace, "--version"],
        "another program": ["/usr/bin/id"],
        "an interpreter": ["/usr/bin/python3", "-c", "print(1)"],
        "a variable outside the rule": ["BPFTRACE_NOT_A_LIMIT=1", bpftrace, "--version"],
        "the loader's preload": ["LD_PRELOAD=/tmp/x.so", bpftrace, "--version"],
        "a Python path for a BCC tool": ["PYTHONPATH=/tmp", "/usr/sbin/execsnoop", "-h"],
        "stdbuf before something else": ["/usr/bin/stdbuf", "-oL", "/usr/bin/id"],
    }
    for why, argv in refused.items():
        result = as_user(*argv)
        assert result.returncode != 0, f"sudo allowed {why}: {argv}"
        assert "uid=0" not in result.stdout and "1\n" != result.stdout
    assert "ALL=(root) NOPASSWD:" in rule and "/bin/sh" not in rule and "/usr/bin/env" not in rule
    setup_sudo(user, "--remove")


def test_setup_sudo_refuses_a_tool_someone_else_could_replace(tmp_path: Path, user: User) -> None:
    from mcptrace_core import sudoers
    from mcptrace_core.privilege import PrivilegedCommands

    writable = tmp_path / "tools"
    writable.mkdir(mode=0o777)
    os.chmod(writable, 0o777)
    tool = writable / "sneaky"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    import pwd

    with pytest.raises(sudoers.SudoSetupError, match="writable by others"):
        sudoers.render(pwd.getpwnam(user.name), {"bcc": PrivilegedCommands(commands=[[str(tool)]])})
    with pytest.raises(sudoers.SudoSetupError, match="read specially"):
        sudoers.render(pwd.getpwnam(user.name), {"bcc": PrivilegedCommands(commands=[["/usr/bin/id, ALL"]])})
