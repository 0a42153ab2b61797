"""What a run costs, measured for real: BPF events and time from the kernel, the budget that stops a run,
the output-rate limit, BPF stats switched off again (also after SIGKILL), and calibrated estimates.

The load is generated here: a child process calling getppid(2) in a loop, so event counts have a known
lower bound and the tracepoint sys_enter_getppid fires (almost) only for it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.server import build_server
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.test_bcc import requires_bcc

pytestmark = [pytest.mark.anyio, requires_bpftrace]

MCPTRACE = str(Path(sys.executable).parent / "mcptrace")
SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
CHEAP = "interval:s:1 { @n = count(); }"
EXPENSIVE = "tracepoint:raw_syscalls:sys_enter { @[kstack] = count(); }"
GETPPID = "tracepoint:syscalls:sys_enter_getppid"


@contextmanager
def syscall_load(calls: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child calling getppid(2) ``calls`` times (then exiting 0), or until it is killed."""
    loop = f"for _ in range({calls}): g()" if calls else "while True: g()"
    child = subprocess.Popen([sys.executable, "-c", f"import os\ng = os.getppid\n{loop}"])
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def poll(client: Any, execution_id: str, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = await call(client, "get_result", execution_id=execution_id, limit=1)
        if predicate(data):
            return data
        assert time.monotonic() < deadline, f"condition not reached: {data['status']} {data.get('overhead')}"
        await anyio.sleep(0.25)


def settled(data: dict[str, Any]) -> bool:
    """The run attached and the kernel counted events of it."""
    overhead = data.get("overhead")
    return data["status"] != "running" or bool(overhead and (overhead["events"] or 0) > 0 and overhead["samples"] >= 3)


@contextmanager
def services_with(tmp_path: Path, **sections: Any) -> Iterator[Services]:
    settings = load_settings(tmp_path / "absent.toml", {"history": {"path": str(tmp_path / "h.sqlite3")}, **sections})
    yield Services.create(settings)


async def session(services: Services) -> Any:
    from mcp import Client

    return Client(build_server(services), mode="legacy")


async def test_an_expensive_program_measures_far_more_than_a_cheap_one(tmp_path: Path) -> None:
    with services_with(tmp_path, safety={"level": "permissive"}) as services:
        try:
            async with await session(services) as client:
                cheap = await call(client, "exec_program", program=CHEAP, timeout_s=3.5, wait=True)
                expensive = await call(client, "exec_program", program=EXPENSIVE, timeout_s=60)
                await poll(client, expensive["execution_id"], settled)
                with syscall_load(200_000) as load:
                    while load.poll() is None:
                        await anyio.sleep(0.1)
                    assert load.returncode == 0
                stopped = (await call(client, "stop_execution", execution_id=expensive["execution_id"]))["execution"]
                listed = await call(client, "list_executions")
        finally:
            await services.aclose()
    low, high = cheap["overhead"], stopped["overhead"]
    assert low["final"] and high["final"] and low["bpf_stats"] in ("bpf_enable_stats", "sysctl")
    (ticks,) = [m for m in cheap["maps"] if m["name"] == "@n"]
    count = ticks["entries"][0]["value"]
    assert count >= 2 and low["events"] in (count - 1, count)  # the kernel's run count is the map's count
    assert high["events"] >= 200_000  # every getppid of the load entered a syscall while it was traced
    assert high["bpf_time_ns"] > 0 and high["events_per_s"] > 0
    assert high["bpf_time_ns"] > 1000 * max(low["bpf_time_ns"], 1)
    assert high["events_per_s"] > 1000 * max(low["events_per_s"], 1)
    assert high["map_bytes"] > low["map_bytes"] > 0 and high["programs"] >= 1
    assert high["probes"] == ["tracepoint:raw_syscalls:sys_enter"] and low["probes"] == ["interval:s:1"]
    by_id = {summary["execution_id"]: summary for summary in listed["executions"]}
    assert by_id[expensive["execution_id"]]["overhead"]["events"] == high["events"]


async def test_a_run_over_its_budget_is_stopped_with_its_maps(tmp_path: Path) -> None:
    with services_with(tmp_path, safety={"level": "permissive"}) as services:
        try:
            async with await session(services) as client:
                with syscall_load():
                    started = await call(client, "exec_program", program=EXPENSIVE, timeout_s=60, max_overhead_pct=0.5)
                    data = await poll(client, started["execution_id"], lambda d: d["status"] != "running")
                analysis = await call(client, "analyze_output", execution_id=started["execution_id"])
        finally:
            await services.aclose()
    assert data["status"] == "over_budget", data["stop_note"]
    crossed = data["limit_crossed"]
    assert crossed["figure"] == "cpu_pct" and crossed["limit"] == 0.5 and crossed["value"] > 0.5
    assert crossed["source"] == "max_overhead_pct" and "cpu_pct" in data["stop_note"]
    assert data["maps"] and data["maps"][0]["entries"], "the maps are printed when a run is stopped over budget"
    assert data["overhead"]["final"] and data["overhead"]["cpu_pct"] > 0.5
    assert analysis["overhead"] == data["overhead"] and analysis["limit_crossed"] == crossed


async def test_the_output_rate_limit_stops_a_flood_and_keeps_its_maps(tmp_path: Path) -> None:
    policy = tmp_path / "flood.toml"
    policy.write_text('name = "flood-test"\nextends = "permissive"\n[budget]\nmax_output_lines_per_s = 300\n')
    program = 'tracepoint:raw_syscalls:sys_enter { @calls = count(); printf("%d %d\\n", pid, args->id); }'
    with services_with(tmp_path, safety={"level": "flood-test", "policy_file": str(policy)}) as services:
        try:
            async with await session(services) as client:
                with syscall_load():
                    started = await call(client, "exec_program", program=program, timeout_s=60, confirm=True)
                    data = await poll(client, started["execution_id"], lambda d: d["status"] != "running")
        finally:
            await services.aclose()
    assert data["status"] == "output_limited", data["stop_note"]
    crossed = data["limit_crossed"]
    assert crossed["figure"] == "output_lines_per_s" and crossed["value"] > 300 == crossed["limit"]
    assert crossed["source"] == "policy flood-test"
    calls = [m for m in data["maps"] if m["name"] == "@calls"]
    assert len(calls) == 1, (data["stop_note"], data["exit_code"], data["stderr"][-5:], data["lines"][-3:])
    assert calls[0]["entries"][0]["value"] > data["total_lines"] // 2  # the map came back, and counted the flood


async def test_the_sysctl_is_restored_after_the_last_run(tmp_path: Path) -> None:
    before = SYSCTL.read_text().strip()
    with services_with(tmp_path, overhead={"bpf_stats": "sysctl", "state_dir": str(tmp_path / "state")}) as services:
        try:
            async with await session(services) as client:
                first = await call(client, "exec_program", program=CHEAP, timeout_s=60)
                second = await call(client, "exec_program", program=CHEAP, timeout_s=60)
                data = await poll(client, first["execution_id"], settled)
                assert SYSCTL.read_text().strip() == "1" and data["overhead"]["bpf_stats"] == "sysctl"
                await call(client, "stop_execution", execution_id=first["execution_id"])
                assert SYSCTL.read_text().strip() == "1", "the second run still needs the stats"
                stopped = await call(client, "stop_execution", execution_id=second["execution_id"])
                assert stopped["execution"]["overhead"]["events"] >= 1
                assert SYSCTL.read_text().strip() == before
        finally:
            await services.aclose()
    assert not (tmp_path / "state" / "bpf-stats.json").exists()


def owner_of(db: Path, run_id: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT owner_pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("run never recorded")


def run_count_of(pid: int) -> int:
    """The summed run_cnt of the BPF programs process ``pid`` holds."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf-prog":
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                total += int(info.split("run_cnt:")[1].split()[0])
        except (OSError, IndexError):
            continue
    return total


async def wait_for(condition: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.1)
    return True


@pytest.mark.parametrize("method", ["sysctl", "bpf_enable_stats"])
async def test_bpf_stats_go_off_when_the_server_is_sigkilled(tmp_path: Path, method: str) -> None:
    from mcp import Client, StdioServerParameters

    before = SYSCTL.read_text().strip()
    db = tmp_path / "h.sqlite3"
    env = {**os.environ, "MCPTRACE_HISTORY__PATH": str(db), "MCPTRACE_LOGGING__LEVEL": "warning",
           "MCPTRACE_OVERHEAD__BPF_STATS": method, "MCPTRACE_OVERHEAD__STATE_DIR": str(tmp_path / "state")}
    # A tracer of our own, outside mcptrace: its programs are counted only while some holder keeps stats on.
    witness = subprocess.Popen(["bpftrace", "-e", f"{GETPPID} {{ @ = count(); }}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with syscall_load():
            async with Client(StdioServerParameters(command=MCPTRACE, args=["serve"], env=env)) as client:
                started = await call(client, "exec_program", program=CHEAP, timeout_s=120)
                server = owner_of(db, started["execution_id"])
                await poll(client, started["execution_id"], settled)
                counting = run_count_of(witness.pid)
                await anyio.sleep(0.5)
                assert run_count_of(witness.pid) > counting, "stats should be on while the server measures"
                if method == "sysctl":
                    assert SYSCTL.read_text().strip() == "1"
                os.kill(server, signal.SIGKILL)
            assert await wait_for(lambda: SYSCTL.read_text().strip() == before), "the sysctl was not restored"
            frozen = run_count_of(witness.pid)
            await anyio.sleep(1.0)
            assert run_count_of(witness.pid) == frozen, "BPF stats stayed on after the server was killed"
    finally:
        witness.kill()
        witness.wait()


async def test_a_probe_measured_before_is_predicted_within_a_factor_of_3(tmp_path: Path) -> None:
    first = f"{GETPPID} {{ @calls = count(); }}"
    second = f"{GETPPID} {{ @by[comm] = count(); }}"
    with services_with(tmp_path, safety={"level": "permissive"}) as services:
        try:
            async with await session(services) as client:
                with syscall_load():
                    before = await call(client, "validate_program", program=second)
                    measured = await call(client, "exec_program", program=first, timeout_s=4, wait=True)
                    services.history.flush()
                    estimate = await call(client, "validate_program", program=second)
                    after = await call(client, "exec_program", program=second, timeout_s=4, wait=True)
        finally:
            await services.aclose()
    assert before["estimated_cost"]["predicted"]["basis"] == "not_measured"
    assert "sample_s" in before["estimated_cost"]["predicted"]["how"]
    predicted = estimate["estimated_cost"]["predicted"]
    assert predicted["basis"] == "measured" and predicted["runs"] == 1
    assert predicted["events_per_s"] == measured["overhead"]["events_per_s"] > 0
    actual = after["overhead"]["events_per_s"]
    ratio = actual / predicted["events_per_s"]
    print(f"predicted {predicted['events_per_s']:.0f} events/s, measured {actual:.0f}: ratio {ratio:.2f}")
    assert 1 / 3 <= ratio <= 3


async def test_a_never_measured_tracepoint_is_sampled_when_asked(tmp_path: Path) -> None:
    with services_with(tmp_path) as services:
        try:
            async with await session(services) as client:
                with syscall_load():
                    sampled = await call(client, "validate_program", program=f"{GETPPID} {{ @ = count(); }}", sample_s=1)
        finally:
            await services.aclose()
    predicted = sampled["estimated_cost"]["predicted"]
    assert predicted["basis"] == "sampled" and predicted["events_per_s"] > 1000 and "1 s count" in predicted["how"]


async def test_bpf_info_and_doctor_say_whether_bpf_time_is_counted(client) -> None:  # type: ignore[no-untyped-def]
    info = await call(client, "bpf_info")
    (check,) = [c for c in info["checks"] if c["name"] == "BPF run-time stats"]
    assert check["ok"] and "BPF_ENABLE_STATS" in check["detail"]
    env = {**os.environ, "MCPTRACE_DISABLE_PLUGINS": "bcc"}  # its catalog trial is not what this tests
    doctor = subprocess.run([MCPTRACE, "doctor", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert '"BPF run-time stats"' in doctor.stdout


async def test_a_server_restores_what_a_killed_server_and_its_guardian_left_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a holder whose process is gone (its start time cannot match any live process)
    (state / "bpf-stats.json").write_text(json.dumps({"original": "0", "holders": [{"pid": dead.pid, "start": 1}]}))
    SYSCTL.write_text("1")
    try:
        overhead = {"bpf_stats": "bpf_enable_stats", "state_dir": str(state)}
        with services_with(tmp_path, overhead=overhead) as services:
            try:
                async with await session(services) as client:
                    await call(client, "exec_program", program="BEGIN { exit(); }", wait=True)
            finally:
                await services.aclose()
        assert SYSCTL.read_text().strip() == "0"
        assert not (state / "bpf-stats.json").exists()
    finally:
        SYSCTL.write_text("0")


@requires_bcc
async def test_a_bcc_tool_is_measured_and_held_to_the_callers_budget(tmp_path: Path) -> None:
    with services_with(tmp_path, safety={"level": "permissive"}) as services:
        try:
            async with await session(services) as client:
                with syscall_load():
                    started = await call(client, "exec_bcc_tool", tool_name="syscount", arguments={"top": 5},
                                         timeout_s=30, max_overhead_pct=0.01)
                    await poll(client, started["execution_id"], lambda d: d["status"] != "running")
                data = await call(client, "get_result", execution_id=started["execution_id"], limit=5000)
        finally:
            await services.aclose()
    assert data["status"] == "over_budget", data["stop_note"]
    assert data["limit_crossed"]["figure"] == "cpu_pct" and data["limit_crossed"]["source"] == "max_overhead_pct"
    assert data["overhead"]["events"] > 0 and data["overhead"]["programs"] >= 1
    assert any(row["values"]["SYSCALL"] == "getppid" for table in data["tables"] for row in table["rows"]), \
        "syscount printed its summary when it was stopped over budget"


async def test_without_bpf_stats_the_rest_is_still_measured(tmp_path: Path) -> None:
    with services_with(tmp_path, overhead={"bpf_stats": "off"}) as services:
        try:
            async with await session(services) as client:
                data = await call(client, "exec_program", program=EXPENSIVE, timeout_s=3, wait=True)
        finally:
            await services.aclose()
    overhead = data["overhead"]
    assert overhead["bpf_stats"].startswith("unavailable: BPF stats are off in the config")
    assert overhead["events"] is None and overhead["bpf_time_ns"] is None and overhead["events_per_s"] is None
    assert overhead["map_bytes"] > 0 and overhead["rss_bytes"] > 0 and overhead["user_cpu_s"] >= 0
    assert overhead["programs"] >= 1 and overhead["cpu_pct"] is not None  # the tracer's own CPU still counts
