"""From parsed output to findings: statistics, top keys, series, tables, anomalies, and a summary.

Whoever parsed the output (a built-in or a third-party analyzer), the findings are computed here
the same way, so every output kind gets the same numbers and the same anomaly rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from mcptrace_analyzers import events, histograms, maps, printouts
from mcptrace_analyzers.gcpause import paused_gc
from mcptrace_analyzers.units import format_quantity
from mcptrace_core.analysis import (
    Anomaly,
    Bucket,
    Distribution,
    EventTable,
    MapPrintouts,
    ParsedMap,
    ParsedOutput,
    Percentile,
    Series,
    TableSummary,
    TopKeys,
)
from mcptrace_core.models import Severity, TraceMap

FocusArea = Literal["distribution", "top", "trend", "events", "anomalies"]
FOCUS_AREAS: tuple[str, ...] = get_args(FocusArea)
MAX_TABLES = 10
MAX_SUMMARY_ANOMALIES = 8

ERROR_CODE = re.compile(r"\((-\d+)\)")
HELPER_HINTS = {
    "-7": "a map is full: raise BPFTRACE_MAP_KEYS_MAX (BPFTRACE_MAX_MAP_KEYS in newer bpftrace) or key on fewer values",
    "-14": "a pointer was not readable (bad or paged-out address)",
    "-2": "a key was not found",
}


@dataclass
class Report:
    distributions: list[Distribution] = field(default_factory=list)
    buckets: dict[str, list[Bucket]] = field(default_factory=dict)
    top: list[TopKeys] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    tables: list[TableSummary] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    printouts: list[MapPrintouts] = field(default_factory=list)
    maps: list[ParsedMap] = field(default_factory=list)
    """The printout of each map the findings are about (the latest unless another was asked for)."""


def build_report(
    parsed: ParsedOutput,
    focus: Collection[str] = FOCUS_AREAS,
    top_n: int = 10,
    names: Collection[str] = (),
    printout: int | None = None,
) -> Report:
    """Findings for the parts of ``parsed`` named by ``focus``; ``names`` keeps only those maps/columns;
    ``printout`` picks which printout of each map (1 = the first, -1 or None = the latest)."""
    with paused_gc():
        return _build_report(parsed, focus, top_n, names, printout)


def _build_report(
    parsed: ParsedOutput, focus: Collection[str], top_n: int, names: Collection[str], printout: int | None
) -> Report:
    report = Report()
    selected, where = printouts.select(parsed, printout)
    chosen = [m for m in selected if _wanted(m.name, names)]
    report.maps = selected
    report.printouts = [p for p in printouts.summaries(parsed.snapshots, where) if _wanted(p.map, names)]
    found: list[Anomaly] = []
    if "distribution" in focus or "anomalies" in focus:
        for dist, buckets in histograms.distributions(chosen, where):
            report.distributions.append(dist)
            report.buckets[dist.subject] = buckets
            found.extend(histograms.histogram_anomalies(dist, buckets))
    if "top" in focus or "anomalies" in focus:
        for trace_map in chosen:
            top = maps.top_keys(trace_map, top_n)
            if top is not None:
                report.top.append(top)
                found.extend(maps.top_anomalies(top))
    if "trend" in focus or "anomalies" in focus:
        for item in maps.series(parsed.snapshots):
            if _wanted(item.subject, names):
                report.series.append(item)
                found.extend(maps.series_anomalies(item))
    if "events" in focus or "anomalies" in focus:
        for table in parsed.tables[:MAX_TABLES]:
            summary, tops, table_anomalies = events.summarize(_only(table, names), top_n)
            report.tables.append(summary)
            report.top.extend(tops)
            found.extend(table_anomalies)
            found.extend(a for top in tops for a in maps.top_anomalies(top))
    found.extend(_notices(parsed))
    report.anomalies = sorted(found, key=lambda a: -a.severity.rank)
    _drop_unfocused(report, focus)
    return report


def _wanted(name: str, names: Collection[str]) -> bool:
    return not names or any(
        name == wanted or name.startswith((f"{wanted}[", f"{wanted} ")) for wanted in names
    )


def _only(table: EventTable, names: Collection[str]) -> EventTable:
    if not names or not any(column.name in names for column in table.columns):
        return table
    return replace(table, columns=[c for c in table.columns if c.name in names])


def _drop_unfocused(report: Report, focus: Collection[str]) -> None:
    """Sections computed only to find anomalies are not returned unless asked for."""
    if "distribution" not in focus:
        report.distributions = []
    if "top" not in focus:
        report.top = []
    if "trend" not in focus:
        report.series = []
    if "events" not in focus:
        report.tables = []
    if "anomalies" not in focus:
        report.anomalies = []


def _notices(parsed: ParsedOutput) -> list[Anomaly]:
    found = []
    if parsed.lost_events:
        found.append(
            Anomaly(
                kind="lost_events",
                severity=Severity.high,
                subject="output",
                message=f"the kernel dropped {parsed.lost_events} events because the reader fell behind: counts and "
                "tables are lower bounds (print less per event, or raise BPFTRACE_PERF_RB_PAGES)",
                evidence={"lost_events": parsed.lost_events},
            )
        )
    if parsed.helper_errors:
        codes = sorted({code for error in parsed.helper_errors for code in ERROR_CODE.findall(error)[:1]})
        hints = [HELPER_HINTS[code] for code in codes if code in HELPER_HINTS]
        found.append(
            Anomaly(
                kind="helper_errors",
                severity=Severity.medium,
                subject="program",
                message=f"{len(parsed.helper_errors)} BPF helper failures, e.g. {parsed.helper_errors[0]}"
                + (f" ({'; '.join(hints)})" if hints else ""),
                evidence={"errors": parsed.helper_errors[:5]},
            )
        )
    return found


def summary_text(parsed: ParsedOutput, report: Report, max_lines: int = 24) -> str:
    """A few lines an assistant can read in a hundred tokens: the numbers first, then the anomalies."""
    lines = []
    for dist in report.distributions[:6]:
        unit = dist.unit
        where = f" (printout {dist.printout} of {dist.printouts})" if dist.printouts > 1 else ""
        given = [
            f"{label} {percentile_text(value, unit)}"
            for label, value in (("p50", dist.p50), ("p90", dist.p90), ("p99", dist.p99))
            if value is not None
        ]
        withheld = [reason.split(",")[0] for reason in dist.withheld if reason.startswith("p")]
        if withheld:
            given.append("withheld: " + "; ".join(withheld))
        line = f"{dist.subject}{where}: n={dist.count}, " + ", ".join(given) + f", mode {dist.mode}"
        lines.append(line + (f", bimodal ({' and '.join(dist.modes)})" if dist.modes else ""))
    for item in report.printouts:
        if item.printouts > 1 and len(lines) < 12:
            total = f", {format_quantity(item.total, None)} in all" if item.total is not None else ""
            lines.append(
                f"{item.map}: printed {item.printouts} times, {item.pattern.replace('_', '-')}{total}; "
                f"the numbers are from printout {item.shown}"
            )
    for top in report.top[:4]:
        leaders = ", ".join(
            f"{k.key[:40]} {format_quantity(k.value, top.unit)}"
            + (f" ({k.share:.0%})" if k.share is not None else "")
            for k in top.top[:3]
        )
        lines.append(f"{top.subject}: {top.keys} keys, top {leaders}")
    for item in report.series[:4]:
        lines.append(
            f"{item.subject} over {len(item.values)} intervals: mean {format_quantity(item.mean, item.unit)}, "
            f"min {format_quantity(item.min, item.unit)}, max {format_quantity(item.max, item.unit)}, "
            f"{item.trend}" + (" (cumulative, differenced)" if item.cumulative else "")
        )
    for table in report.tables[:3]:
        line = f"{table.rows} events [{' '.join(table.columns[:8])}]"
        if table.slowest_by:
            summary = next(s for s in table.summaries if s.column == table.slowest_by)
            line += (
                f"; {table.slowest_by} p50 {format_quantity(summary.p50, summary.unit)}, p99 "
                f"{format_quantity(summary.p99, summary.unit)}, max {format_quantity(summary.max, summary.unit)}"
            )
        lines.append(line)
    for anomaly in report.anomalies[:MAX_SUMMARY_ANOMALIES]:
        lines.append(f"! [{anomaly.severity.value}] {anomaly.message}")
    if len(report.anomalies) > MAX_SUMMARY_ANOMALIES:
        lines.append(
            f"! ... {len(report.anomalies) - MAX_SUMMARY_ANOMALIES} more anomalies in the structured result"
        )
    if not lines:
        lines.append(f"nothing numeric recognised ({parsed.other_lines} plain lines)")
    return "\n".join(lines[:max_lines])


def percentile_text(value: Percentile, unit: str | None) -> str:
    """'in [600, 800) (~700 us)': the bucket is exact, the value inside it an estimate."""
    if value.estimate is None:
        return f"in {value.bucket}"
    return f"in {value.bucket} (~{format_quantity(value.estimate, unit)})"


def shown_maps(parsed_maps: list[ParsedMap], max_entries: int) -> tuple[list[TraceMap], int]:
    """The maps as TraceMaps with at most ``max_entries`` entries each (the largest kept), and how
    many entries were left out."""
    shown, omitted = [], 0
    for parsed in parsed_maps:
        count = len(parsed.keys)
        if count <= max_entries:
            shown.append(parsed.to_trace_map())
            continue
        sizes = [maps.entry_size(parsed.kind, value) or 0.0 for value in parsed.values]
        largest = sorted(range(count), key=lambda index: -sizes[index])[:max_entries]
        omitted += count - max_entries
        shown.append(parsed.to_trace_map(largest))
    return shown, omitted
