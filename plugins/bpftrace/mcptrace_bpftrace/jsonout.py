"""Feed a run from bpftrace's ``-f json`` output (one JSON object per line): lines, maps and counters.

Runs always use ``-f json`` so maps arrive structured. The map shapes are decoded by the analyzers'
``maps_from_event`` (one decoder for get_result and analyze_output); a readable text form, as
bpftrace prints it without ``-f json``, is rendered into the output lines so that people and models
can read the run, and so that analyze_output can parse the lines back.
"""

from __future__ import annotations

import json

from mcptrace_analyzers.bpftrace_json import (
    MAP_EVENTS,
    TEXT_EVENTS,
    helper_error_text,
    maps_from_event,
    scalar_text,
)
from mcptrace_analyzers.stats import bucket_label

from mcptrace_core.models import HistBucket, TraceMap
from mcptrace_core.runs.run import Run

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
            kind, data = event["type"], event.get("data")
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
            run.add_line(scalar_text(data))
        elif kind == "helper_error":
            run.add_line(f"WARNING: Failed to {helper_error_text(event)}")
        else:  # types added after 0.17: keep them readable
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


def render_map(trace_map: TraceMap) -> list[str]:
    """Lines as bpftrace's own text output shows this map."""
    lines: list[str] = []
    for entry in trace_map.entries:
        label = trace_map.name if entry.key is None else f"{trace_map.name}[{entry.key}]"
        if entry.buckets is not None:
            lines.extend(f"{label}: ".split("\n"))
            lines.extend(_hist_rows(entry.buckets))
            lines.append("")
        elif entry.stats is not None:
            s = entry.stats
            text = (
                _number(s.average)
                if s.count is None
                else (f"count {s.count}, average {_number(s.average)}, total {_number(s.total)}")
            )
            lines.extend(f"{label}: {text}".split("\n"))
        else:
            lines.extend(f"{label}: {scalar_text(entry.value)}".split("\n"))
    return lines


def _hist_rows(buckets: list[HistBucket]) -> list[str]:
    peak = max((bucket.count for bucket in buckets), default=0) or 1
    rows = []
    for bucket in buckets:
        bar = "@" * round(bucket.count * BAR_WIDTH / peak)
        rows.append(f"{bucket_label(bucket):<15} {bucket.count:>10} |{bar:<{BAR_WIDTH}}|")
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else str(int(value)) if float(value).is_integer() else str(value)
