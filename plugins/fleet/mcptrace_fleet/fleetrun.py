"""A fleet run: one program (or BCC tool) on many hosts at once, and the book of such runs.

Each host runs on its own (``HostRun``); a host that cannot be reached or fails is reported and the
others go on. Connecting and starting is limited to ``fleet.max_parallel`` hosts at a time; once
started, every host traces at the same time. The fleet run looks like a local run to the result
builders (``RunView``): its status sums up the hosts', its lines are every host's lines prefixed with
the host name, its maps are the merged maps.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mcptrace_core.config import RunSettings
from mcptrace_core.models import TraceError, TraceMap
from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.runs.models import RunSpec, RunStatus
from mcptrace_core.runs.overhead import LimitCrossed, RunOverhead

from mcptrace_fleet.hostrun import HostRun
from mcptrace_fleet.inventory import Host
from mcptrace_fleet.merge import merge_maps
from mcptrace_fleet.ssh import SshFiles

FLEET_PREFIX = "fleet-"
MAX_KEPT = 200
ENDED_PRIORITY = [RunStatus.killed, RunStatus.stopped, RunStatus.timed_out, RunStatus.completed]


@dataclass(frozen=True)
class Launch:
    """What every host of a run gets: the remote argv (the program file is added by the wrapper), the
    program, the BPFTRACE_* limits, and a fresh RunSpec per host (its decoder keeps state)."""

    argv: list[str]
    program: str | None
    env: dict[str, str]
    spec_for_host: Callable[[], RunSpec]
    functions: dict[str, str]
    """Map name -> aggregating function, for the merge."""


class FleetRun:
    def __init__(self, hosts: list[Host], launch: Launch, limits: RunSettings) -> None:
        self.id = FLEET_PREFIX + secrets.token_hex(6)
        # What every host ran, and where: what the history keeps as this run's parameters and label.
        names = [host.name for host in hosts]
        on = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        shared = launch.spec_for_host()
        self.spec = replace(shared, argv=launch.argv, env=launch.env, label=f"{shared.label} [on {on}]")
        self.launch = launch
        self.output = OutputBuffer(limits.max_output_lines, limits.max_output_bytes)
        self.stderr = OutputBuffer(400, 128 * 1024)
        self.started_at = time.time()
        self._started = time.monotonic()
        self.hosts = {
            host.name: HostRun(self.id, host, launch.spec_for_host(), limits, self._interleave) for host in hosts
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[asyncio.Task[None]] = []
        self._merged: tuple[int, list[TraceMap], list[str]] | None = None
        self._changed = asyncio.Event()
        """Set (and replaced) on every line any host prints: what a long poll waits for."""
        self.overhead: RunOverhead | None = None
        """Not measured: the overhead plugin reads the fdinfo of local tracers only."""
        self.limit_crossed: LimitCrossed | None = None

    def _interleave(self, host: str, line: str) -> None:
        self.output.append(f"[{host}] {line}")
        self._changed.set()
        self._changed = asyncio.Event()

    def start(self, files: SshFiles, connect_timeout_s: float, max_parallel: int) -> None:
        gate = asyncio.Semaphore(max_parallel)
        tag = self.id.removeprefix(FLEET_PREFIX)
        for host_run in self.hosts.values():
            self._tasks.append(asyncio.create_task(host_run.run(
                files, connect_timeout_s, self.launch.argv, self.launch.program, self.launch.env, tag, gate)))

    def when_done(self, callback: Callable[[FleetRun], None]) -> None:
        """Call ``callback`` once every host has ended (or its task was cancelled at shutdown)."""

        async def wait_then_call() -> None:
            await self.wait_done()
            callback(self)

        self._listeners.append(asyncio.create_task(wait_then_call()))

    async def settled(self) -> None:
        """Until every host ended and every ``when_done`` callback ran (the history has the end)."""
        await self.wait_done()
        await asyncio.gather(*self._listeners, return_exceptions=True)

    async def wait_attached(self, timeout_s: float) -> None:
        """Until every host attached its probes or ended (or ``timeout_s`` passed)."""
        waits = [asyncio.create_task(h.attached.wait()) for h in self.hosts.values()]
        _, pending = await asyncio.wait(waits, timeout=timeout_s)
        for task in pending:
            task.cancel()

    async def wait_done(self, timeout_s: float | None = None) -> bool:
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        return not pending

    async def wait_changed(self, timeout_s: float) -> None:
        """Until some host prints a line or ends, or ``timeout_s`` passed (woken, not polling)."""
        running = [task for task in self._tasks if not task.done()]
        if not running:
            return
        changed = asyncio.create_task(self._changed.wait())
        try:
            await asyncio.wait([changed, *running], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()

    async def stop(self, note: str = "stopped on request") -> None:
        """Stop every host (each prints its maps) and wait for all of them."""
        for host_run in self.hosts.values():
            host_run.request_stop(RunStatus.stopped, note)
        await self.wait_done()

    def request_stop(self, status: RunStatus, note: str) -> None:
        for host_run in self.hosts.values():
            host_run.request_stop(status, note)

    # -- the RunView of the whole fleet -----------------------------------------------------------

    @property
    def status(self) -> RunStatus:
        statuses = [h.status for h in self.hosts.values()]
        if any(status is RunStatus.running for status in statuses):
            return RunStatus.running
        if all(status is RunStatus.failed for status in statuses):
            return RunStatus.failed
        return next(status for status in ENDED_PRIORITY + [RunStatus.failed] if status in statuses)

    @property
    def failed_hosts(self) -> list[HostRun]:
        return [h for h in self.hosts.values() if h.status is RunStatus.failed]

    @property
    def errors(self) -> list[TraceError]:
        return [
            error.model_copy(update={"message": f"{h.host.name}: {error.message}"})
            for h in self.hosts.values() for error in h.errors if h.status is RunStatus.failed or h.error
        ]

    @property
    def error_summary(self) -> str | None:
        failed = self.failed_hosts
        if not failed:
            return None
        first = failed[0]
        return (f"{len(failed)} of {len(self.hosts)} hosts failed; first: {first.host.name}: "
                f"{first.error or 'failed'}")

    @property
    def maps(self) -> dict[str, TraceMap]:
        return {m.name: m for m in self.merged()[0]}

    def merged(self) -> tuple[list[TraceMap], list[str]]:
        """The merged maps and the maps left unmerged; recomputed only when some host's maps changed."""
        stamp = sum(h.map_version for h in self.hosts.values())
        if self._merged is None or self._merged[0] != stamp:
            maps, unmerged = merge_maps({n: h.maps.values() for n, h in self.hosts.items()}, self.launch.functions)
            self._merged = (stamp, maps, unmerged)
        return self._merged[1], self._merged[2]

    @property
    def exit_code(self) -> int | None:
        codes = [h.exit_code for h in self.hosts.values()]
        if self.status is RunStatus.running:
            return None
        return next((code for code in codes if code not in (0, None)), 0 if any(c == 0 for c in codes) else None)

    @property
    def attached_probes(self) -> int | None:
        counts = [h.attached_probes for h in self.hosts.values() if h.attached_probes is not None]
        return sum(counts) if counts else None

    @property
    def lost_events(self) -> int:
        return sum(h.lost_events for h in self.hosts.values())

    @property
    def duration_s(self) -> float:
        return max((h.duration_s for h in self.hosts.values()), default=0.0)

    @property
    def stop_note(self) -> str | None:
        return next((h.stop_note for h in self.hosts.values() if h.stop_note), None)

    @property
    def ended(self) -> bool:
        return all(h.done.is_set() for h in self.hosts.values())


class FleetBook:
    """The fleet runs of one server (kept per plugin registry, never module-wide)."""

    def __init__(self) -> None:
        self._runs: dict[str, FleetRun] = {}

    def add(self, run: FleetRun) -> None:
        if len(self._runs) >= MAX_KEPT:
            for old in [r for r in self._runs.values() if r.ended][: len(self._runs) - MAX_KEPT + 1]:
                del self._runs[old.id]
        self._runs[run.id] = run

    def get(self, run_id: str) -> FleetRun | None:
        return self._runs.get(run_id)

    def active(self) -> list[FleetRun]:
        return [run for run in self._runs.values() if not run.ended]

    def runs(self) -> list[FleetRun]:
        return list(self._runs.values())

    async def shutdown(self) -> None:
        runs = self.active()
        for run in runs:
            run.request_stop(RunStatus.stopped, "server shutting down")
        await asyncio.gather(*(run.wait_done(10.0) for run in runs))
        await asyncio.gather(*(run.settled() for run in runs if run.ended))  # recorded before the history closes
