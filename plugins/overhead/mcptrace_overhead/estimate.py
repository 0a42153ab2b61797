"""Calibrated cost estimates: what a program will cost here, from what this host measured before.

Every measured run leaves its final figures in the history, with the probe specs its events came from.
A program is predicted, in this order, from: earlier runs of the very same program; earlier runs with
the same probes; per probe, runs that had that probe alone, and the rates interval and profile probes
state themselves; and, when the caller asks (``sample_s``), a short count of each tracepoint never
measured, run like any other run (measured, under the policy's budget, kept in the history so that it
counts as measured next time). BPF CPU is events/s times the BPF time per event measured for the same
probes (else the median of this host's runs).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mcptrace_core.program.probespec import ProbeSpec
from mcptrace_core.runs.models import RunBudget
from mcptrace_core.safety.models import CostPrediction, ProbeCount

if TYPE_CHECKING:
    from mcptrace_core.services import Services

RECENT_RUNS = 500
"""Measured runs of the history looked at, newest first."""
SAME_RUNS = 5
"""The newest matching runs a figure is the median of."""
MAX_SAMPLE_S = 2.0
MAX_SAMPLED_SPECS = 3
MAX_SAMPLED_PROBES = 10
"""A spec attaching more probes than this is not sampled (attaching and detaching alone would cost seconds)."""
SAMPLEABLE = re.compile(r"^(tracepoint|rawtracepoint):[A-Za-z0-9_:*]+$")
_TIMED = re.compile(r"^(interval|profile):(hz|s|ms|us):(\d+)$")
_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6}


@dataclass(frozen=True)
class Measured:
    program: str | None
    probes: tuple[str, ...]
    events_per_s: float
    ns_per_event: float | None


def timed_rate(spec: str, cpus: int) -> float | None:
    """Events/s an interval or profile probe states itself (a profile probe fires on every CPU)."""
    match = _TIMED.match(spec)
    if match is None:
        return None
    kind, unit, value = match.groups()
    number = int(value)
    if number <= 0:
        return None
    rate = float(number) if unit == "hz" else _PER_SECOND[unit] / number
    return rate * (cpus if kind == "profile" else 1)


def load_measured(services: Services) -> list[Measured]:
    """The measured runs of the history, newest first (blocking: call in a thread)."""
    from mcptrace_core.history.store import HistoryUnavailable

    try:
        rows = services.history.read(
            "SELECT program, overhead FROM runs WHERE overhead IS NOT NULL ORDER BY started_at DESC LIMIT ?",
            (RECENT_RUNS,),
        )
    except HistoryUnavailable:
        return []
    measured = []
    for row in rows:
        try:
            figures = json.loads(row["overhead"])
        except ValueError:
            continue
        rate, events, bpf_ns = figures.get("events_per_s"), figures.get("events"), figures.get("bpf_time_ns")
        if rate is None or not figures.get("probes"):
            continue
        per_event = bpf_ns / events if events and bpf_ns is not None and events >= 100 else None
        measured.append(Measured(row["program"], tuple(figures["probes"]), float(rate), per_event))
    return measured


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


class _Total:
    """The sum of per-probe rates and their BPF CPU; the CPU is unknown once any part of it is."""

    def __init__(self, cpus: int, per_event_all: float | None) -> None:
        self.cpus, self.per_event_all = cpus, per_event_all
        self.events_per_s = 0.0
        self.cpu_pct: float | None = 0.0

    def cpu(self, rate: float | None, per_event: float | None) -> float | None:
        per_event = per_event if per_event is not None else self.per_event_all
        if rate is None or per_event is None:
            return None
        return round(rate * per_event / 1e9 / self.cpus * 100, 4)

    def add(self, rate: float, per_event: float | None = None) -> None:
        self.events_per_s += rate
        value = self.cpu(rate, per_event)
        self.cpu_pct = None if self.cpu_pct is None or value is None else self.cpu_pct + value


def _from_runs(runs: list[Measured], total: _Total, basis: str, how: str) -> CostPrediction:
    """The median of ``runs`` (measured runs of the same program, or with the same probes)."""
    rate = _median([m.events_per_s for m in runs])
    return CostPrediction(
        events_per_s=round(rate, 1) if rate is not None else None,
        cpu_pct=total.cpu(rate, _median([m.ns_per_event for m in runs if m.ns_per_event is not None])),
        basis=basis, runs=len(runs), how=how,
    )


async def predict(
    services: Services, program: str, key: list[str], probes: Sequence[ProbeCount], sample_s: float, cpus: int
) -> CostPrediction:
    """The prediction for ``program`` whose canonical probe specs are ``key``."""
    if not key:
        return CostPrediction(events_per_s=0.0, cpu_pct=0.0, basis="measured", how="only BEGIN/END probes: no events")
    measured = await asyncio.to_thread(load_measured, services)
    total = _Total(cpus, _median([m.ns_per_event for m in measured if m.ns_per_event is not None]))
    same = [m for m in measured if m.program == program][:SAME_RUNS]
    if same:
        return _from_runs(same, total, "same_program",
                          f"median of the {len(same)} latest measured runs of this same program on this host")
    alike = [m for m in measured if m.probes == tuple(key)][:SAME_RUNS]
    if alike:
        source = "from those runs" if any(m.ns_per_event for m in alike) else "is this host's median"
        return _from_runs(alike, total, "measured", f"median of the {len(alike)} latest measured runs with the "
                          f"same probes on this host; BPF time per event {source}")
    runs, unknown, sampled, stated = 0, [], [], []
    for spec in key:
        rate = timed_rate(spec, cpus)
        if rate is not None:
            stated.append(spec)
            total.add(rate)
            continue
        alone = [m for m in measured if m.probes == (spec,)][:SAME_RUNS]
        if not alone:
            unknown.append(spec)
            continue
        runs += len(alone)
        total.add(_median([m.events_per_s for m in alone]) or 0.0,
                  _median([m.ns_per_event for m in alone if m.ns_per_event]))
    if unknown and sample_s > 0:
        counts = {ProbeSpec.parse(probe.spec).canonical: probe.count for probe in probes}
        for spec in list(unknown)[:MAX_SAMPLED_SPECS]:
            if not SAMPLEABLE.match(spec) or (counts.get(spec) or MAX_SAMPLED_PROBES + 1) > MAX_SAMPLED_PROBES:
                continue
            rate = await sample_rate(services, spec, min(sample_s, MAX_SAMPLE_S))
            if rate is None:
                continue
            unknown.remove(spec)
            sampled.append(spec)
            total.add(rate)
    parts = []
    if runs:
        parts.append(f"{runs} earlier runs of single probes")
    if stated:
        parts.append(f"the rates {', '.join(stated)} state")
    if sampled:
        parts.append(f"a {min(sample_s, MAX_SAMPLE_S):g} s count of {', '.join(sampled)} now")
    if unknown:
        hint = "" if sample_s > 0 else " (validate again with sample_s to count tracepoints for a moment)"
        parts.append(f"nothing known of {', '.join(unknown)}{hint}")
    known = len(key) - len(unknown)
    if known == 0:
        basis = "not_measured"
    elif unknown:
        basis = "partly_measured"
    else:
        basis = "sampled" if sampled else "measured"
    return CostPrediction(
        events_per_s=round(total.events_per_s, 1) if known else None,
        cpu_pct=round(total.cpu_pct, 4) if known and total.cpu_pct is not None else None,
        basis=basis, runs=runs, unmeasured=unknown,
        how="from " + "; ".join(parts) if parts else "nothing measured",
    )


async def sample_rate(services: Services, spec: str, seconds: float) -> float | None:
    """Events/s of one tracepoint spec, counted for ``seconds`` by a run of its own (measured, budgeted)."""
    from mcptrace_core.safety.gate import combined_budget
    from mcptrace_core.safety.policies import run_policies

    try:
        backend = services.backend("bpftrace")
        budget: RunBudget | None = combined_budget(run_policies(services, None))
        run_spec = replace(backend.run_spec(f"{spec} {{ @sampled = count(); }}", seconds), budget=budget)
        run = await services.runs.start(run_spec)
    except Exception:  # no backend, no policy, the run limit, no bpftrace: a missing sample is a missing figure
        return None
    await run.wait_done(seconds + 30)
    overhead = run.overhead
    if overhead is not None and overhead.events_per_s is not None and overhead.events is not None:
        return overhead.events_per_s
    value = run.maps.get("@sampled")
    if value is None or overhead is None or overhead.measured_s <= 0:
        return None
    count = getattr(value, "value", None)
    return float(count) / overhead.measured_s if isinstance(count, (int, float)) else None
