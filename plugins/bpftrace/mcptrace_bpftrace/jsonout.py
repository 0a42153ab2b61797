"""Decode bpftrace's ``-f json`` output (one JSON object per line) into lines, maps and counters.

Runs always use ``-f json`` so maps arrive structured; a readable text form, close to what bpftrace
prints without it, is rendered into the output lines so that people and models can read the run.
"""

from __future__ import annotations

import json
from typing import Any

from mcptrace_core.models import HistBucket, MapEntry, MapStats, TraceMap
from mcptrace_core.runs.run import Run

TEXT_EVENTS = frozenset({"printf", "time", "cat", "syscall", "join"})
MAP_EVENTS = {"map": "value", "hist": "hist", "stats": "stats"}
BAR_WIDTH = 52


class JsonOutputDecoder:
    """Feeds a run from bpftrace's NDJSON stdout; printf text is joined across calls into lines."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, line: str, run: Run) -> None:
        if not line:
            return
        try:
            event = json.loads(line)
            kind, data = event["type"], event["data"]
        except (ValueError, KeyError, TypeError):
            self._flush(run)
            run.add_line(line)  # not JSON: bpftrace printed something plain; keep it
            return
        if kind in TEXT_EVENTS:
            self._text(str(data) if not isinstance(data, str) else data, run)
            return
        self._flush(run)
        if kind in MAP_EVENTS:
            for trace_map in maps_from_event(kind, data):
                run.set_map(trace_map)
                for text in render_map(trace_map):
                    run.add_line(text)
        elif kind == "attached_probes":
            run.attached_probes = int(data.get("probes", 0))
            run.add_line(f"Attaching {run.attached_probes} probe{'s' if run.attached_probes != 1 else ''}...")
        elif kind == "lost_events":
            lost = int(data.get("events", 0)) if isinstance(data, dict) else int(data)
            run.lost_events += lost
            run.add_line(f"Lost {lost} events")
        elif kind == "value":
            run.add_line(_scalar(data))
        else:  # helper_error and types added after 0.17: keep them readable
            run.add_line(f"{kind}: {json.dumps(data, ensure_ascii=False)}")

    def finish(self, run: Run) -> None:
        self._flush(run)

    def _text(self, text: str, run: Run) -> None:
        parts = (self._pending + text).split("\n")
        self._pending = parts.pop()
        for part in parts:
            run.add_line(part)

    def _flush(self, run: Run) -> None:
        if self._pending:
            run.add_line(self._pending)
            self._pending = ""


def maps_from_event(kind: str, data: dict[str, Any]) -> list[TraceMap]:
    """The maps of one ``map``/``hist``/``stats`` event (bpftrace puts one map in each)."""
    return [_trace_map(MAP_EVENTS[kind], name, value) for name, value in data.items()]


def _trace_map(kind: str, name: str, value: Any) -> TraceMap:
    keyed = isinstance(value, dict) and not (kind == "stats" and _is_stats(value))
    items = value.items() if keyed else [(None, value)]
    return TraceMap(name=name, kind=kind, entries=[_entry(kind, key, item) for key, item in items])  # type: ignore[arg-type]


def _entry(kind: str, key: str | None, value: Any) -> MapEntry:
    if kind == "hist":
        return MapEntry(key=key, buckets=[_bucket(bucket) for bucket in value])
    if kind == "stats" and isinstance(value, dict):
        return MapEntry(key=key, stats=MapStats(**{k: value.get(k) for k in ("count", "average", "total")}))
    return MapEntry(key=key, value=value)


def _is_stats(value: dict[str, Any]) -> bool:
    return set(value) == {"count", "average", "total"}


def _bucket(bucket: dict[str, Any]) -> HistBucket:
    high = bucket.get("max")
    return HistBucket(low=bucket.get("min"), high=None if high is None else high + 1, count=bucket["count"])


# -- the readable text form ----------------------------------------------------------------------


def render_map(trace_map: TraceMap) -> list[str]:
    """Lines close to bpftrace's own text output for this map."""
    lines: list[str] = []
    for entry in trace_map.entries:
        label = trace_map.name if entry.key is None else f"{trace_map.name}[{entry.key}]"
        if entry.buckets is not None:
            lines.append(f"{label}:")
            lines.extend(_hist_rows(entry.buckets))
            lines.append("")
        elif entry.stats is not None:
            s = entry.stats
            lines.extend(f"{label}: count {s.count}, average {_number(s.average)}, total {_number(s.total)}".split("\n"))
        else:
            lines.extend(f"{label}: {_scalar(entry.value)}".split("\n"))
    return lines


def _hist_rows(buckets: list[HistBucket]) -> list[str]:
    peak = max((bucket.count for bucket in buckets), default=0) or 1
    rows = []
    for bucket in buckets:
        low = "..." if bucket.low is None else _size(bucket.low)
        high = "..." if bucket.high is None else _size(bucket.high)
        bounds = f"({low}, {high})" if bucket.low is None else f"[{low}, {high})"
        bar = "@" * round(bucket.count * BAR_WIDTH / peak)
        rows.append(f"{bounds:<16}{bucket.count:>10} |{bar:<{BAR_WIDTH}}|")
    return rows


def _size(value: float) -> str:
    number = int(value)
    for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if number and number % scale == 0:
            return f"{number // scale}{suffix}"
    return str(number)


def _number(value: float | None) -> str:
    return "" if value is None else str(int(value)) if float(value).is_integer() else str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_scalar(item) for item in value) + ")"
    return str(value)
