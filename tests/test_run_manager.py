"""The run manager with real child processes: process groups, escalation to SIGKILL, limits, cleanup.

These use small Python children rather than bpftrace where the behaviour under test (a child that ignores
SIGINT, a child that leaves grandchildren) cannot be produced with bpftrace on demand; they are real
processes, not fakes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from mcptrace_core.config import RunSettings
from mcptrace_core.runs.manager import RunManager
from mcptrace_core.runs.models import RunLimitError, RunSpec, RunStartError, RunStatus

pytestmark = pytest.mark.anyio

IGNORES_SIGINT = (
    "import signal, time, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _spec(code: str, timeout_s: float = 30, grace: float = 0.5, label: str = "python child") -> RunSpec:
    return RunSpec(argv=[sys.executable, "-c", code], backend="test", label=label, timeout_s=timeout_s,
                   grace_s=lambda probes: grace)


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await anyio.sleep(0.05)


async def test_a_child_that_ignores_sigint_is_killed_after_the_grace_period() -> None:
    manager = RunManager(RunSettings())
    run = await manager.start(_spec(IGNORES_SIGINT, grace=0.5))
    await _until(lambda: run.output.total >= 1)
    begin = time.monotonic()
    await manager.stop(run.id)
    assert run.status is RunStatus.killed
    assert 0.4 < time.monotonic() - begin < 5
    assert "process group killed" in (run.stop_note or "")


async def test_stopping_kills_grandchildren_left_in_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    manager = RunManager(RunSettings())
    run = await manager.start(_spec(code, grace=5))
    await _until(lambda: run.output.total >= 1 and pidfile.exists())
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    await manager.stop(run.id)
    assert run.status is RunStatus.stopped  # Python's default SIGINT handler ends the child
    await _until(lambda: not _alive(grandchild))


async def test_shutdown_stops_every_active_run() -> None:
    manager = RunManager(RunSettings(max_concurrent=8))
    runs = [await manager.start(_spec(IGNORES_SIGINT, grace=0.3)) for _ in range(3)]
    await _until(lambda: all(run.output.total for run in runs))
    pids = [run.pid for run in runs]  # type: ignore[union-attr]
    await manager.shutdown()
    assert not manager.active
    assert not any(_alive(pid) for pid in pids)


async def test_the_limit_counts_runs_that_are_still_starting() -> None:
    manager = RunManager(RunSettings(max_concurrent=2))
    results = []

    async def start() -> None:
        try:
            results.append(await manager.start(_spec(IGNORES_SIGINT, grace=0.2)))
        except RunLimitError as error:
            results.append(error)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(start)
    assert sum(isinstance(result, RunLimitError) for result in results) == 2
    await manager.shutdown()


async def test_a_missing_executable_is_a_clear_start_error() -> None:
    manager = RunManager(RunSettings())
    spec = RunSpec(argv=["/nonexistent/tracer"], backend="test", label="x", timeout_s=1)
    with pytest.raises(RunStartError, match="cannot start /nonexistent/tracer"):
        await manager.start(spec)
    assert manager.list() == []


async def test_finished_runs_expire_after_keep_finished_s() -> None:
    manager = RunManager(RunSettings(keep_finished_s=0))
    run = await manager.start(_spec("print('done')"))
    await run.wait_done(10)
    assert run.status is RunStatus.completed and run.output.page(0, 10).lines == ["done"]
    await anyio.sleep(0.01)
    assert manager.list() == []


async def test_control_characters_in_output_are_stripped() -> None:
    manager = RunManager(RunSettings())
    run = await manager.start(_spec(r"print('\x1b[2J\x1b]0;pwned\x07ok\x00\x08!')"))
    await run.wait_done(10)
    assert run.output.page(0, 10).lines == ["ok!"]


async def test_children_die_with_the_server_even_when_it_is_killed(tmp_path: Path) -> None:
    """A server killed with SIGKILL cannot clean up: PR_SET_PDEATHSIG makes the kernel stop its children."""
    pidfile = tmp_path / "child.pid"
    server = (
        "import asyncio, sys\n"
        "from mcptrace_core.config import RunSettings\n"
        "from mcptrace_core.runs.manager import RunManager\n"
        "from mcptrace_core.runs.models import RunSpec\n"
        "async def main():\n"
        "    manager = RunManager(RunSettings())\n"
        "    run = await manager.start(RunSpec(argv=[sys.executable, '-c', 'import time; time.sleep(60)'],"
        " backend='t', label='t', timeout_s=60))\n"
        f"    open({str(pidfile)!r}, 'w').write(str(run.pid))\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    process = await anyio.open_process([sys.executable, "-c", server])
    await _until(lambda: pidfile.exists() and pidfile.read_text())
    child = int(pidfile.read_text())
    assert _alive(child)
    process.kill()
    await process.wait()
    await _until(lambda: not _alive(child))
    assert os.getpid()  # the test process itself is untouched


async def test_after_the_grace_period_sigterm_comes_before_sigkill() -> None:
    """Behind sudo, SIGKILL reaches sudo alone; SIGTERM is what sudo passes on to the tracer running as root."""
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "def ended(*_):\n"
        "    print('SIGTERM reached the child', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, ended)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    manager = RunManager(RunSettings())
    run = await manager.start(_spec(code, grace=0.5))
    await _until(lambda: run.output.total >= 1)
    await manager.stop(run.id)
    assert run.status is RunStatus.killed
    assert "SIGTERM reached the child" in run.output.page(0, 10).lines
