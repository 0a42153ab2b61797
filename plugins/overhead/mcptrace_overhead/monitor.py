"""Measure every run while it runs, and stop one that goes over its budget.

A run's cost is what its BPF programs spend in the kernel (run_time_ns, counted while BPF stats are
on) plus the CPU of the tracing process itself, as a share of the whole machine (all cores). Start-up
(compiling and attaching) is not judged: figures are judged once the run has settled, i.e. its
descriptors stopped changing for SETTLED_AFTER samples; the map memory is judged at once, since it is
locked from the moment the maps exist.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcptrace_core.config import OverheadSettings
from mcptrace_core.models import HostCheck
from mcptrace_core.runs.models import RunBudget, RunStatus
from mcptrace_core.runs.overhead import RunOverhead
from mcptrace_core.runs.watch import Breach, WindowRate

from mcptrace_overhead.procfs import ProcessReader, ProcessSample
from mcptrace_overhead.stats import SYSCTL, StatsLease, read_sysctl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mcptrace_core.runs.run import Run
    from mcptrace_core.safety.models import CostPrediction, ProbeCount
    from mcptrace_core.services import Services

NO_PROBE_TYPES = frozenset({"BEGIN", "END"})
SETTLED_AFTER = 2
"""Samples in a row with BPF programs loaded and no descriptor opened or closed: start-up is over (a
tracer compiling or attaching on a loaded machine can pause for one sample interval)."""


def probe_key(program: str | None) -> list[str]:
    """The canonical probe specs of a program, sorted, BEGIN/END left out (empty when it does not parse)."""
    if not program:
        return []
    from mcptrace_core.program.parser import ProgramSyntaxError, parse_program

    try:
        parsed = parse_program(program)
    except (ProgramSyntaxError, ValueError):
        return []
    return sorted({spec.canonical for spec in parsed.attach_points if spec.type not in NO_PROBE_TYPES})


class OverheadWatcher:
    """The ``overhead`` run watcher: one per server; holds the BPF-stats lease its runs share."""

    name = "overhead"

    def __init__(self, settings: OverheadSettings) -> None:
        self.settings = settings
        self.lease = StatsLease(settings.bpf_stats, settings.state_path())
        self.cpus = os.cpu_count() or 1
        self._recovered = False

    def watch(self, run: Run) -> OverheadCheck | None:
        if not self.settings.measure or run.pid is None:
            return None
        if not self._recovered:  # once: what a killed earlier server (and its guardian) left switched on
            self._recovered = True
            self.lease.state.recover()
        return OverheadCheck(run.pid, run.spec.budget, self.lease.acquire(), self)

    async def predict(
        self, services: Services, program: str, probes: Sequence[ProbeCount], sample_s: float
    ) -> CostPrediction:
        """What ``program`` will cost here, from this host's measurements (see estimate.py)."""
        from mcptrace_overhead.estimate import predict

        return await predict(services, program, probe_key(program), probes, sample_s, self.cpus)

    def host_checks(self) -> list[HostCheck]:
        """Whether the kernel can count BPF run time here, and how (for bpf_info and doctor)."""
        from mcptrace_overhead.stats import enable_stats_fd

        try:
            os.close(enable_stats_fd())
            return [HostCheck(name="BPF run-time stats", ok=True,
                              detail="BPF_ENABLE_STATS works: runs report BPF events and time (off when not measuring)")]
        except OSError as error:
            refused = f"BPF_ENABLE_STATS refused ({error.strerror or error})"
        sysctl = read_sysctl()
        if sysctl is not None and os.access(SYSCTL, os.W_OK):
            return [HostCheck(name="BPF run-time stats", ok=True,
                              detail=f"{refused}; kernel.bpf_stats_enabled (now {sysctl}) is switched on while runs "
                              "are measured and restored after")]
        return [HostCheck(
            name="BPF run-time stats", ok=False,
            detail=f"{refused}; kernel.bpf_stats_enabled cannot be written: runs report CPU and memory of the tracer, "
            "map memory and lost events, but no BPF events or BPF time",
            fix="run mcptrace as root on Linux 5.8 or later (BPF_ENABLE_STATS), or with write access to "
            "/proc/sys/kernel/bpf_stats_enabled",
        )]


@dataclass
class _Mark:
    """Counters at one moment."""

    t: float
    events: int
    bpf_ns: int
    cpu_s: float


class OverheadCheck:
    """One run's measurements; the watchdog samples it."""

    def __init__(self, pid: int, budget: RunBudget | None, stats: str, watcher: OverheadWatcher) -> None:
        self.reader = ProcessReader(pid)
        self.budget = budget
        self.stats = stats
        self.counting = not stats.startswith("unavailable")
        self.watcher = watcher
        window = budget.window_s if budget is not None else 2.0
        self._events = WindowRate(window)
        self._cpu = WindowRate(window)
        self._programs: dict[int, tuple[int, int]] = {}
        self._maps: dict[int, int] = {}
        self._last: ProcessSample | None = None
        self._fds = -1
        self._steady = 0
        self._first: _Mark | None = None
        self._settled: _Mark | None = None
        self._now: _Mark | None = None
        self._peak_rss = 0
        self._samples = 0
        self._live_events_per_s: float | None = None
        self._live_cpu_pct: float | None = None
        self._finished = False

    # -- RunCheck ---------------------------------------------------------------------------------

    def sample(self, run: Run, now: float) -> Breach | None:
        if not self._absorb(now):
            return None
        breach = self._judge()
        run.overhead = self.figures(run, final=False)
        return breach

    def finish(self, run: Run) -> None:
        if self._finished:
            return
        self._finished = True
        self._absorb(time.monotonic())  # the clock of the event loop's time(), which samples use
        self.watcher.lease.release()
        run.overhead = self.figures(run, final=True)

    # -- measuring --------------------------------------------------------------------------------

    def _absorb(self, now: float) -> bool:
        sample = self.reader.sample()
        if sample is None:
            return False
        self._samples += 1
        for prog_id, counters in sample.programs.items():  # a program that goes away keeps its last counts
            self._programs[prog_id] = counters
        self._maps = sample.maps
        self._last = sample
        self._peak_rss = max(self._peak_rss, sample.rss_bytes)
        events = sum(count for count, _ in self._programs.values())
        bpf_ns = sum(ns for _, ns in self._programs.values())
        mark = _Mark(now, events, bpf_ns, sample.cpu_s)
        self._now = mark
        if self._first is None:
            self._first = mark
        self._steady = self._steady + 1 if sample.programs and sample.fd_count == self._fds else 0
        if self._settled is None and self._steady >= SETTLED_AFTER:
            self._settled = mark
        self._fds = sample.fd_count
        if self._settled is not None:
            cpus = self.watcher.cpus
            self._live_events_per_s = self._events.add(now, events)
            busy = self._cpu.add(now, bpf_ns / 1e9 + sample.cpu_s)
            self._live_cpu_pct = None if busy is None else busy / cpus * 100
        return True

    def _judge(self) -> Breach | None:
        budget = self.budget
        if budget is None:
            return None
        map_bytes = sum(self._maps.values())
        if budget.max_map_bytes is not None and map_bytes > budget.max_map_bytes:
            return Breach(RunStatus.over_budget, "map_bytes", map_bytes, budget.max_map_bytes, budget.source)
        rate = self._live_events_per_s
        if budget.max_events_per_s is not None and self.counting and rate is not None and rate > budget.max_events_per_s:
            return Breach(RunStatus.over_budget, "events_per_s", round(rate, 1), budget.max_events_per_s, budget.source)
        cpu = self._live_cpu_pct
        if budget.max_cpu_pct is not None and cpu is not None and cpu > budget.max_cpu_pct:
            return Breach(RunStatus.over_budget, "cpu_pct", round(cpu, 3), budget.max_cpu_pct,
                          budget.cpu_source or budget.source)
        return None

    def figures(self, run: Run, final: bool) -> RunOverhead:
        now, first = self._now, self._first
        cpus = self.watcher.cpus
        last = self._last
        events = now.events if now else 0
        bpf_ns = now.bpf_ns if now else 0
        span = (now.t - first.t) if now and first else 0.0
        cpu_s = now.cpu_s if now else 0.0
        whole = max(span, 1e-3)
        if final:
            base = self._settled if self._settled is not None and now is not None and now.t - self._settled.t > 0.2 else None
            if base is not None and now is not None:
                busy_span = now.t - base.t
                events_per_s = (events - base.events) / busy_span
                cpu_pct = ((bpf_ns - base.bpf_ns) / 1e9 + (cpu_s - base.cpu_s)) / busy_span / cpus * 100
            else:
                events_per_s = events / whole
                cpu_pct = (bpf_ns / 1e9 + cpu_s) / whole / cpus * 100
        else:
            events_per_s, cpu_pct = self._live_events_per_s, self._live_cpu_pct
        return RunOverhead(
            events=events if self.counting else None,
            events_per_s=round(events_per_s, 1) if self.counting and events_per_s is not None else None,
            bpf_time_ns=bpf_ns if self.counting else None,
            bpf_cpu_pct=round(bpf_ns / 1e9 / whole / cpus * 100, 4) if self.counting else None,
            user_cpu_s=round(cpu_s, 3),
            user_cpu_pct=round(cpu_s / whole / cpus * 100, 4),
            cpu_pct=round(cpu_pct, 4) if cpu_pct is not None else None,
            rss_bytes=self._peak_rss if final else (last.rss_bytes if last else 0),
            map_bytes=sum(self._maps.values()),
            programs=len(self._programs),
            maps=len(self._maps),
            lost_events=run.lost_events,
            measured_s=round(span, 3),
            samples=self._samples,
            final=final,
            probes=probe_key(run.spec.program) if final else [],
            bpf_stats=self.stats,
        )
