"""A real `mcptrace serve` killed with SIGKILL during runs: after a restart its runs are `interrupted`,
its finished runs are still readable with get_result, and a live server's runs are never touched."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcptrace_core.config import HistorySettings
from mcptrace_core.history.store import HistoryStore
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]

MCPTRACE = str(Path(sys.executable).parent / "mcptrace")


def server(db: Path) -> Any:
    from mcp import StdioServerParameters

    env = {**os.environ, "MCPTRACE_HISTORY__PATH": str(db), "MCPTRACE_LOGGING__LEVEL": "warning"}
    return StdioServerParameters(command=MCPTRACE, args=["serve"], env=env)


def recorded(db: Path, run_id: str) -> sqlite3.Row | None:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT status, owner_pid FROM runs WHERE id = ?", (run_id,)).fetchone()


async def wait_recorded(db: Path, run_id: str, status: str) -> sqlite3.Row:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = recorded(db, run_id)
        if row is not None and row["status"] == status:
            return row
        await anyio.sleep(0.05)
    raise AssertionError(f"run {run_id} never recorded as {status}: {recorded(db, run_id)}")


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def start_run(client: Any, program: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("exec_program", {"program": program, **arguments})
    assert not result.is_error, result.content
    return result.structured_content


async def test_sigkilled_server_leaves_interrupted_runs_and_readable_results(tmp_path: Path) -> None:
    from mcp import Client

    db = tmp_path / "history.sqlite3"
    marker = f"marker-{uuid.uuid4().hex}"
    long_program = f'interval:ms:100 {{ printf("{marker}\\n"); }}'
    async with Client(server(db)) as client:
        done = await start_run(client, 'BEGIN { printf("finished before the crash\\n"); exit(); }', wait=True)
        assert done["status"] == "completed"
        running = [await start_run(client, long_program, timeout_s=120) for _ in range(2)]
        rows = [await wait_recorded(db, run["execution_id"], "running") for run in running]
        owner = rows[0]["owner_pid"]
        assert owner != os.getpid() and {row["owner_pid"] for row in rows} == {owner}
        assert processes_with(marker), "the traced programs should be running"
        os.kill(owner, signal.SIGKILL)  # the session closes against a dead server: no clean shutdown ran

    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        await anyio.sleep(0.1)
    assert not processes_with(marker), "bpftrace outlived the killed server"
    assert all(recorded(db, run["execution_id"])["status"] == "running" for run in running)  # type: ignore[index]

    async with Client(server(db)) as client:
        result = await client.call_tool("get_result", {"execution_id": done["execution_id"]})
        assert not result.is_error, result.content
        assert result.structured_content["status"] == "completed"
        assert "finished before the crash" in result.structured_content["lines"]
        for run in running:
            result = await client.call_tool("get_result", {"execution_id": run["execution_id"]})
            assert not result.is_error, result.content
            data = result.structured_content
            assert data["status"] == "interrupted" and f"pid {owner}" in data["stop_note"]
        found = await client.call_tool("search_history", {"query": marker, "status": "interrupted"})
        assert not found.is_error, found.content
        hits = found.structured_content["runs"]
        assert len(hits) == 1 and hits[0]["repeats"] == 2  # the same program twice: one hit, counted
        assert hits[0]["id"] in {run["execution_id"] for run in running}


async def test_starting_another_server_never_interrupts_the_live_runs_of_the_first(tmp_path: Path) -> None:
    from mcp import Client

    db = tmp_path / "history.sqlite3"
    async with Client(server(db)) as client:
        run = await start_run(client, 'interval:ms:100 { printf("alive\\n"); }', timeout_s=60)
        await wait_recorded(db, run["execution_id"], "running")
        other = HistoryStore.open(HistorySettings(path=db))  # what a second server does when it starts
        try:
            assert other.available
            assert other.load(run["execution_id"]).status == "running"  # type: ignore[union-attr]
        finally:
            other.close()
        stopped = await client.call_tool("stop_execution", {"execution_id": run["execution_id"]})
        assert stopped.structured_content["execution"]["status"] == "stopped"
        await wait_recorded(db, run["execution_id"], "stopped")
