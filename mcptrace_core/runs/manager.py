"""Start runs, find them, stop them, and stop all of them when the server goes away."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Protocol

from mcptrace_core.config import RunSettings
from mcptrace_core.logging import get_logger
from mcptrace_core.runs.models import RunLimitError, RunNotFoundError, RunSpec, RunStartError, RunStatus
from mcptrace_core.runs.process import spawn
from mcptrace_core.runs.run import Run
from mcptrace_core.runs.watch import OutputRateWatcher, RunWatcher, Watchdog

log = get_logger(__name__)

MAX_KEPT_RUNS = 1000
SHUTDOWN_GRACE_S = 3.0


class RunListener(Protocol):
    """Told when a run starts and when it has ended (e.g. the history store); called on the event loop.

    A listener must return quickly; one that raises is logged and the run goes on unharmed.
    """

    def run_started(self, run: Run) -> None: ...

    def run_ended(self, run: Run) -> None: ...


class RunManager:
    """All runs of this server process. Backend-agnostic: a backend hands over a RunSpec."""

    def __init__(self, limits: RunSettings) -> None:
        self.limits = limits
        self._runs: dict[str, Run] = {}
        self._supervisors: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[RunListener] = []
        self.watchdog = Watchdog(limits.watch_interval_s)
        self.watchdog.add_watcher(OutputRateWatcher())

    def add_watcher(self, watcher: RunWatcher) -> None:
        """Have ``watcher`` check every run started from now on (runtime limits, measurements)."""
        self.watchdog.add_watcher(watcher)

    def add_listener(self, listener: RunListener) -> None:
        self._listeners.append(listener)

    @property
    def active(self) -> list[Run]:
        return [run for run in self._runs.values() if not run.status.finished]

    async def start(self, spec: RunSpec) -> Run:
        """Spawn the run's process and supervise it in the background; return at once."""
        self._prune()
        active = self.active
        if len(active) >= self.limits.max_concurrent:
            raise RunLimitError(
                f"{len(active)} runs are active, the limit (runs.max_concurrent) is "
                f"{self.limits.max_concurrent}: stop one with stop_execution ("
                + ", ".join(run.id for run in active)
                + ") or wait for it to end"
            )
        run = Run(self._new_id(), spec, self.limits)
        self._runs[run.id] = run  # counted as active from here, so concurrent starts see it
        try:
            process = await spawn(spec.argv, spec.env)
        except OSError as error:
            del self._runs[run.id]
            raise RunStartError(f"cannot start {spec.argv[0]}: {error.strerror or error}") from error
        run.attach(process)
        self.watchdog.begin(run)
        self._supervisors[run.id] = asyncio.create_task(self._supervise(run, process))
        self._tell("run_started", run)
        log.info("run started", execution_id=run.id, backend=spec.backend, pid=process.pid, timeout_s=spec.timeout_s)
        return run

    def timeout_for(self, requested: float | None) -> float:
        """The timeout of a run that asks for ``requested`` seconds (None: the configured default)."""
        timeout_s = requested if requested is not None else self.limits.default_timeout_s
        if timeout_s > self.limits.max_timeout_s:
            raise RunLimitError(
                f"timeout_s: {timeout_s:g} is over the maximum of {self.limits.max_timeout_s:g} s (runs.max_timeout_s)"
            )
        return timeout_s

    def get(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFoundError(
                f"no execution with id {run_id!r}: it never existed here or it expired "
                f"(finished runs are kept {self.limits.keep_finished_s:g} s); list_executions shows the known ones"
            )
        return run

    def list(self, status: RunStatus | None = None) -> list[Run]:
        self._prune()
        runs = sorted(self._runs.values(), key=lambda run: run.started_at, reverse=True)
        return [run for run in runs if status is None or run.status is status]

    async def stop(self, run_id: str) -> Run:
        """Stop a run (SIGINT, grace, SIGKILL) and return it once it has ended."""
        run = self.get(run_id)
        run.request_stop(RunStatus.stopped, "stopped on request")
        await run.wait_done()
        return run

    async def shutdown(self) -> None:
        """Stop every active run; used on server exit, client disconnect and SIGTERM."""
        runs = self.active
        for run in runs:
            run.request_stop(RunStatus.stopped, "server shutting down")
        if runs:
            log.info("stopping active runs", count=len(runs))
            await asyncio.wait([asyncio.create_task(run.wait_done()) for run in runs], timeout=SHUTDOWN_GRACE_S)
        await self.watchdog.close()
        for task in self._supervisors.values():
            if not task.done():
                task.cancel()
        if self._supervisors:
            await asyncio.wait(list(self._supervisors.values()), timeout=SHUTDOWN_GRACE_S)

    async def _supervise(self, run: Run, process: asyncio.subprocess.Process) -> None:
        try:
            await run.supervise(process)
        finally:
            self._tell("run_ended", run)
            log.info(
                "run ended",
                execution_id=run.id,
                status=run.status.value,
                exit_code=run.exit_code,
                duration_s=run.duration_s,
                lines=run.output.total,
            )

    def _tell(self, event: str, run: Run) -> None:
        for listener in self._listeners:
            try:
                getattr(listener, event)(run)
            except Exception:  # isolation: an observer's bug never breaks a run
                log.exception("run listener failed", listener=type(listener).__name__, hook=event, execution_id=run.id)

    def _new_id(self) -> str:
        while True:
            run_id = secrets.token_hex(6)
            if run_id not in self._runs:
                return run_id

    def _prune(self) -> None:
        """Forget finished runs older than keep_finished_s, and the oldest beyond MAX_KEPT_RUNS."""
        now = time.monotonic()
        finished = [run for run in self._runs.values() if run.ended_monotonic is not None]
        expired = {run.id for run in finished if now - run.ended_monotonic > self.limits.keep_finished_s}  # type: ignore[operator]
        overflow = len(self._runs) - len(expired) - MAX_KEPT_RUNS
        if overflow > 0:
            oldest = sorted((run for run in finished if run.id not in expired), key=lambda run: run.started_at)
            expired.update(run.id for run in oldest[:overflow])
        for run_id in expired:
            del self._runs[run_id]
            self._supervisors.pop(run_id, None)
