"""Nothing a server started outlives it, SIGKILL included: compile checks, confirmed system() commands and
BCC tools, with everything they started (checked by process group, walking /proc)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcptrace_core.runs.watchdog import end_groups
from tests.conftest import libbpf_tool, requires_bpftrace
from tests.test_bounded_checks import slow_to_check

MCPTRACE = shutil.which("mcptrace") or str(Path(sys.executable).with_name("mcptrace"))
GONE_WITHIN_S = 20.0


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _processes() -> dict[int, list[str]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _descendants(root: int) -> set[int]:
    table = _processes()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, stat in table.items() if int(stat[1]) in frontier} - found
        found |= frontier
    return found


def _now_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK")


def _group_members(pgid: int, started_before: float) -> list[int]:
    """Living (not zombie) processes of process group ``pgid`` that started before ``started_before``
    (clock ticks since boot): on a busy host the number may already name a newer process's group."""
    return [pid for pid, stat in _processes().items()
            if int(stat[2]) == pgid and stat[0] != "Z" and int(stat[19]) <= started_before]


def _describe(pids: list[int]) -> list[str]:
    return [f"{pid} {_comm(pid)} {(_stat(pid) or ['?'])[0]} parent {(_stat(pid) or ['', '?'])[1]}" for pid in pids]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not reached in {timeout:g} s: {what}"
        time.sleep(0.1)


class Server:
    """A real `mcptrace serve` over stdio, spoken to in raw JSON-RPC so a call can be left pending."""

    def __init__(self, tmp_path: Path, config: str = "") -> None:
        config_file = tmp_path / "config.toml"
        config_file.write_text(config)
        env = {**os.environ, "MCPTRACE_CONFIG": str(config_file)}
        self.process = subprocess.Popen([MCPTRACE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env)
        self._next_id = 1
        self.send("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "orphan-test", "version": "0"}})
        assert "result" in self.response(1)
        self.notify("notifications/initialized")

    def send(self, method: str, params: dict) -> int:  # type: ignore[type-arg]
        request_id, self._next_id = self._next_id, self._next_id + 1
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id

    def notify(self, method: str) -> None:
        self._write({"jsonrpc": "2.0", "method": method})

    def call(self, tool: str, arguments: dict) -> int:  # type: ignore[type-arg]
        return self.send("tools/call", {"name": tool, "arguments": arguments})

    def response(self, request_id: int) -> dict:  # type: ignore[type-arg]
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, "server closed stdout"
            message = json.loads(line)
            if message.get("id") == request_id:
                return message  # type: ignore[no-any-return]

    def _write(self, message: dict) -> None:  # type: ignore[type-arg]
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=20)


def _kill_server_and_expect_nothing_left(server: Server, groups: set[int], watchdog: set[int]) -> None:
    killed_at = _now_ticks() + 1
    server.kill()
    for pgid in groups:
        _wait_for(lambda pgid=pgid: not _group_members(pgid, killed_at), GONE_WITHIN_S,
                  f"process group {pgid} is gone (left: {_describe(_group_members(pgid, killed_at))})")
    for pid in watchdog:  # the watchdog ends once its work is done
        _wait_for(lambda pid=pid: _stat(pid) is None or _stat(pid)[0] == "Z", GONE_WITHIN_S, "watchdog exits")


def _children_groups(server: Server, comm: str) -> tuple[set[int], set[int]]:
    """The process groups of the server's descendants called ``comm``, and the watchdog's pid."""
    table = {pid: _stat(pid) for pid in _descendants(server.process.pid)}
    groups = {int(stat[2]) for pid, stat in table.items() if stat and _comm(pid) == comm}
    assert os.getpgid(server.process.pid) not in groups, "a child was left in the server's own process group"
    watchdog = {pid for pid, stat in table.items()
                if stat and int(stat[2]) == pid and _comm(pid).startswith("python")}
    return groups, watchdog


@requires_bpftrace
def test_a_compile_check_dies_with_a_killed_server(tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        server.call("validate_program", {"program": slow_to_check(0)})  # bpftrace checks it for seconds
        groups, watchdog = _wait_for(lambda: (lambda found: found if found[0] else None)(
            _children_groups(server, "bpftrace")), 30, "a compile check is running")
    except BaseException:
        server.kill()
        raise
    _kill_server_and_expect_nothing_left(server, groups, watchdog)


@requires_bpftrace
def test_a_confirmed_system_command_and_its_children_die_with_a_killed_server(tmp_path: Path) -> None:
    marker = f"{os.getpid() % 97 + 3}.{time.monotonic_ns() % 1000:03d}"  # a sleep no one else runs
    server = Server(tmp_path, '[safety]\nlevel = "permissive"\n')
    try:
        request = server.call("exec_program", {
            "program": f'BEGIN {{ system("sleep {marker}"); exit(); }}', "confirm": True, "timeout_s": 120,
        })
        reply = server.response(request)
        assert not reply["result"].get("isError"), reply

        def sleeping() -> set[int]:
            return {pid for pid in _descendants(server.process.pid) if _comm(pid) == "sleep"}

        sleepers = _wait_for(sleeping, 30, "bpftrace's system() started sleep")
        groups, watchdog = _children_groups(server, "bpftrace")
        assert groups and {int(_stat(pid)[2]) for pid in sleepers} <= groups  # type: ignore[index]
    except BaseException:
        server.kill()
        raise
    _kill_server_and_expect_nothing_left(server, groups, watchdog)
    assert not [pid for pid, stat in _processes().items() if stat[0] != "Z" and _comm(pid) == "sleep"
                and marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]


@requires_bpftrace
def test_a_bcc_tool_dies_with_a_killed_server(tmp_path: Path) -> None:
    tool = libbpf_tool("execsnoop")
    if tool is None:
        pytest.skip("libbpf-tools' execsnoop is not installed (apt-get install -y libbpf-tools)")
    server = Server(tmp_path, '[safety]\nlevel = "permissive"\n')
    try:
        reply = server.response(server.call("exec_bcc_tool", {"tool_name": "execsnoop", "arguments": {},
                                                              "timeout_s": 120, "confirm": True}))
        assert not reply["result"].get("isError"), reply
        groups, watchdog = _wait_for(lambda: (lambda found: found if found[0] else None)(
            _children_groups(server, Path(tool).name[:15])), 30, "execsnoop is running")  # comm: 15 chars
    except BaseException:
        server.kill()
        raise
    _kill_server_and_expect_nothing_left(server, groups, watchdog)


def test_the_watchdog_spares_a_group_whose_id_now_names_another_process() -> None:
    """A listed group that ended and whose number came back as someone else's is never signalled."""
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        real_ticks = int(_stat(stranger.pid)[19])  # type: ignore[index]
        end_groups({stranger.pid: real_ticks - 1}, grace_s=0.2)  # recorded start time differs: not ours
        assert stranger.poll() is None
        end_groups({stranger.pid: real_ticks}, grace_s=0.2)
        assert stranger.wait(timeout=10) == -signal.SIGTERM
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()


@requires_bpftrace
def test_the_next_server_sweeps_what_a_crash_left_when_the_watchdog_died_too(tmp_path: Path) -> None:
    import sqlite3

    history = tmp_path / "history.sqlite3"
    config = f'[safety]\nlevel = "permissive"\n[history]\npath = "{history}"\n'
    marker = f"{os.getpid() % 89 + 5}.{time.monotonic_ns() % 1000:03d}"
    crashed = Server(tmp_path, config)
    try:
        reply = crashed.response(crashed.call("exec_program", {
            "program": f'BEGIN {{ system("sleep {marker}"); exit(); }}', "confirm": True, "timeout_s": 120}))
        assert not reply["result"].get("isError"), reply
        sleepers = _wait_for(lambda: {pid for pid in _descendants(crashed.process.pid) if _comm(pid) == "sleep"},
                             30, "bpftrace's system() started sleep")
        _, watchdogs = _children_groups(crashed, "bpftrace")
        # The run's group is the sleepers' (a background `bpftrace -l` may come and go beside it).
        groups = {int(_stat(pid)[2]) for pid in sleepers}  # type: ignore[index]

        def recorded() -> set[int]:
            with sqlite3.connect(history) as conn:
                return {row[0] for row in conn.execute("SELECT pgid FROM child_groups")}

        _wait_for(lambda: groups <= recorded(), 30, "the history holds the run's process group")
        # The worst case: the watchdog goes first, then the server. The server is frozen meanwhile, or the
        # next child it starts (a background probe listing) would bring up a new watchdog.
        os.kill(crashed.process.pid, signal.SIGSTOP)
        for pid in watchdogs:
            os.kill(pid, signal.SIGKILL)
    except BaseException:
        crashed.kill()
        raise
    killed_at = _now_ticks() + 1
    crashed.kill()
    time.sleep(1.0)
    if not any(_group_members(pgid, killed_at) for pgid in groups):
        # bpftrace 0.23 ends what its system() started when it dies itself (0.17 leaves it running): then a
        # crash leaves nothing behind for the next server to sweep. 0.17 shows the sweep.
        pytest.skip("this bpftrace took its system() children with it: nothing was left to sweep")
    successor = Server(tmp_path, config)  # opening the history sweeps the dead server's groups
    try:
        for pgid in groups:
            _wait_for(lambda pgid=pgid: not _group_members(pgid, killed_at), GONE_WITHIN_S,
                      f"process group {pgid} is swept")
        assert not any(_stat(pid) and _stat(pid)[0] != "Z" and int(_stat(pid)[19]) <= killed_at  # type: ignore[index]
                       for pid in sleepers)
        with sqlite3.connect(history) as conn:
            assert not conn.execute("SELECT count(*) FROM child_groups WHERE pgid IN (%s)" % ",".join(
                str(pgid) for pgid in groups)).fetchone()[0]
    finally:
        successor.kill()


def test_the_sweep_touches_only_groups_of_dead_servers_that_are_provably_the_same(tmp_path: Path) -> None:
    import sqlite3

    from mcptrace_core.config import HistorySettings
    from mcptrace_core.history.groups import insert_group
    from mcptrace_core.history.identity import ProcessIdentity, boot_id
    from mcptrace_core.history.store import HistoryStore

    history = tmp_path / "history.sqlite3"
    HistoryStore.open(HistorySettings(path=history)).close()  # the schema
    live_owner = ProcessIdentity(1, boot_id(), int(_stat(1)[19]))  # type: ignore[index]
    dead_owner = ProcessIdentity(live_owner.pid, boot_id(), live_owner.start_ticks + 1)  # pid 1 never restarts
    strays = [subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(3)]
    try:
        ticks = [int(_stat(stray.pid)[19]) for stray in strays]  # type: ignore[index]
        with sqlite3.connect(history) as conn:
            insert_group(live_owner, strays[0].pid, ticks[0], conn)  # a live server's: untouched
            insert_group(dead_owner, strays[1].pid, ticks[1] + 7, conn)  # not the recorded leader: untouched
            insert_group(dead_owner, strays[2].pid, ticks[2], conn)  # a dead server's own: killed
        HistoryStore.open(HistorySettings(path=history)).close()
        assert strays[2].wait(timeout=10) == -signal.SIGKILL
        assert strays[0].poll() is None and strays[1].poll() is None
        with sqlite3.connect(history) as conn:
            assert [row[0] for row in conn.execute("SELECT pgid FROM child_groups")] == [strays[0].pid]
    finally:
        for stray in strays:
            if stray.poll() is None:
                stray.kill()
                stray.wait()
