"""Stop a run for a reason while it runs: the one watchdog every runtime limit goes through.

The run manager samples each running run every ``runs.watch_interval_s`` seconds. Plugins contribute
``RunWatcher``s (``mcptrace_run_watchers`` hook); each one looks at a run when it starts and may hand
back a ``RunCheck`` that is sampled from then on. A check that finds a limit crossed returns a
``Breach``: the run is stopped the way stop_execution stops it (SIGINT, so its maps are printed) and
ends with the breach's status and a note naming the figure that crossed the line.

The core brings one watcher of its own, the policy's output-rate limit (lines/s and bytes/s); the
overhead plugin brings the CPU/event/map-memory budget. Fleet runs and other plugins use the same way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mcptrace_core.logging import get_logger
from mcptrace_core.models import HostCheck
from mcptrace_core.runs.models import RunBudget, RunStatus

if TYPE_CHECKING:
    from mcptrace_core.runs.run import Run

log = get_logger(__name__)


@dataclass(frozen=True)
class Breach:
    """A limit a run crossed: which figure, its value and the limit, and the status the run ends with."""

    status: RunStatus
    figure: str
    """What was measured, e.g. 'cpu_pct', 'events_per_s', 'map_bytes', 'output_lines_per_s'."""
    value: float
    limit: float
    source: str
    """Where the limit comes from, e.g. 'policy standard', 'max_overhead_pct'."""

    @property
    def note(self) -> str:
        return f"{self.figure} {self.value:.4g} over the limit of {self.limit:.4g} ({self.source})"

    def as_dict(self) -> dict[str, object]:
        return {"figure": self.figure, "value": self.value, "limit": self.limit, "source": self.source}


class RunCheck(Protocol):
    """One watcher's view of one run: sampled while the run runs, told once when it is about to stop."""

    def sample(self, run: Run, now: float) -> Breach | None:
        """Measure (quickly: this runs on the event loop); return a Breach when a limit is crossed."""

    def finish(self, run: Run) -> None:
        """Take the last figures (the run was asked to stop, or its process is ending); no breach now."""


class RunWatcher(Protocol):
    """A contribution of the ``mcptrace_run_watchers`` hook.

    A watcher may also have ``host_checks() -> list[HostCheck]``: what it needs from the host and whether
    it has it; bpf_info and `mcptrace doctor` show them.
    """

    name: str

    def watch(self, run: Run) -> RunCheck | None:
        """The check for ``run``, or None when this watcher has nothing to watch in it."""


def watcher_host_checks(watchers: Sequence[RunWatcher]) -> list[HostCheck]:
    """The host checks of every watcher that has some; a watcher whose check raises is reported, not fatal."""
    checks: list[HostCheck] = []
    for watcher in watchers:
        method = getattr(watcher, "host_checks", None)
        if method is None:
            continue
        try:
            checks.extend(method())
        except Exception as error:
            checks.append(HostCheck(name=f"run watcher {watcher.name}", ok=False, detail=f"{type(error).__name__}: {error}"))
    return checks


class Watchdog:
    """Samples every check of every running run on one timer; stops a run at its first breach."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._watchers: list[RunWatcher] = []
        self._checks: dict[str, tuple[Run, list[RunCheck]]] = {}
        self._task: asyncio.Task[None] | None = None

    def add_watcher(self, watcher: RunWatcher) -> None:
        self._watchers.append(watcher)

    def begin(self, run: Run) -> None:
        """Start watching ``run`` (called right after its process started)."""
        checks: list[RunCheck] = []
        for watcher in self._watchers:
            try:
                check = watcher.watch(run)
            except Exception:  # isolation: a watcher's bug never stops a run
                log.exception("run watcher failed", watcher=watcher.name, execution_id=run.id)
                continue
            if check is not None:
                checks.append(check)
        if not checks:
            return
        self._checks[run.id] = (run, checks)
        run.before_stop.append(lambda: self.end(run))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    def end(self, run: Run) -> None:
        """The run is stopping or has ended: last figures, and no more sampling."""
        entry = self._checks.pop(run.id, None)
        if entry is None:
            return
        for check in entry[1]:
            try:
                check.finish(run)
            except Exception:
                log.exception("run check failed at the end", execution_id=run.id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def sample_all(self) -> None:
        """One round: every check of every running run (what the timer calls)."""
        now = asyncio.get_running_loop().time()
        for run, checks in list(self._checks.values()):
            if run.status.finished:
                self.end(run)
                continue
            for check in checks:
                try:
                    breach = check.sample(run, now)
                except Exception:
                    log.exception("run check failed", execution_id=run.id)
                    continue
                if breach is not None:
                    log.warning("run over its limit", execution_id=run.id, **breach.as_dict())
                    run.stop_for(breach)
                    break

    async def _loop(self) -> None:
        while self._checks:
            await asyncio.sleep(self.interval_s)
            self.sample_all()


class WindowRate:
    """The rate of a growing counter over the last ``window_s`` seconds, from timed samples."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> float | None:
        """Record ``total`` at ``now``; the rate once the samples span the window, else None."""
        samples = self._samples
        samples.append((now, total))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        first_t, first_total = samples[0]
        span = now - first_t
        if span < self.window_s * 0.999:
            return None
        return (total - first_total) / span


class OutputRateWatcher:
    """The policy's runtime output-rate limit: a run printing more lines or bytes per second is stopped."""

    name = "output-rate"

    def watch(self, run: Run) -> RunCheck | None:
        budget = run.spec.budget
        if budget is None or (budget.max_output_lines_per_s is None and budget.max_output_bytes_per_s is None):
            return None
        return _OutputRateCheck(budget)


class _OutputRateCheck:
    def __init__(self, budget: RunBudget) -> None:
        self.budget = budget
        self._lines = WindowRate(budget.window_s)
        self._bytes = WindowRate(budget.window_s)

    def sample(self, run: Run, now: float) -> Breach | None:
        budget = self.budget
        lines = self._lines.add(now, run.output.total)
        size = self._bytes.add(now, run.output_bytes)
        if budget.max_output_lines_per_s is not None and lines is not None and lines > budget.max_output_lines_per_s:
            return Breach(RunStatus.output_limited, "output_lines_per_s", round(lines, 1),
                          budget.max_output_lines_per_s, budget.source)
        if budget.max_output_bytes_per_s is not None and size is not None and size > budget.max_output_bytes_per_s:
            return Breach(RunStatus.output_limited, "output_bytes_per_s", round(size, 1),
                          budget.max_output_bytes_per_s, budget.source)
        return None

    def finish(self, run: Run) -> None:
        return None
