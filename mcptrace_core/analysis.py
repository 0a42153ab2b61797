"""The shared shape of parsed trace output and of what is learnt from it.

An analyzer (``interfaces.Analyzer``) turns raw output into a ``ParsedOutput``; the statistics and
findings computed from it (``Distribution``, ``TopKeys``, ``Series``, ``ColumnSummary``, ``Anomaly``)
are the same whoever parsed it, so a third-party analyzer that adds an output kind gets percentiles,
top keys, trends and anomalies for free.

The parsed form is made of plain dataclasses and tuples, not pydantic models: it is an in-process
hand-over that may hold millions of values, and validating each one (2-5 us a model here) would
cap parsing at a few MB/s. ``ParsedMap.to_trace_map`` gives the validated ``TraceMap`` that tools
return (get_result's form); the findings below are pydantic models, since tools return them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pydantic import Field

from mcptrace_core.models import HistBucket, MapEntry, MapStats, Model, Severity, TraceMap

MapKind = Literal["value", "hist", "stats"]


class Bucket(NamedTuple):
    """A histogram bucket [low, high); None bounds are the open underflow/overflow buckets."""

    low: float | None
    high: float | None
    count: int


class StatsValue(NamedTuple):
    """A stats() value; avg() gives only the average."""

    count: int | None
    average: float | None
    total: float | None


@dataclass
class ParsedMap:
    """A map as parsed: keys and values side by side (None key for a scalar map).

    A value is a number, a string or a tuple (list) for kind 'value'; a list of Buckets for 'hist';
    a StatsValue for 'stats'.
    """

    name: str
    kind: MapKind
    keys: list[str | None] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    line: int | None = None
    """The output line this printout began on (0-based, as get_result counts); None when unknown."""

    def to_trace_map(self, indices: list[int] | None = None) -> TraceMap:
        """The validated TraceMap of these entries (all, or those at ``indices``)."""
        chosen = range(len(self.keys)) if indices is None else indices
        return TraceMap(name=self.name, kind=self.kind, entries=[self._entry(index) for index in chosen])

    def _entry(self, index: int) -> MapEntry:
        key, value = self.keys[index], self.values[index]
        if self.kind == "hist":
            return MapEntry(
                key=key, buckets=[HistBucket(low=b.low, high=b.high, count=b.count) for b in value]
            )
        if self.kind == "stats":
            return MapEntry(
                key=key, stats=MapStats(count=value.count, average=value.average, total=value.total)
            )
        return MapEntry(key=key, value=value)

    @classmethod
    def from_trace_map(cls, trace_map: TraceMap) -> ParsedMap:
        parsed = cls(trace_map.name, trace_map.kind)
        for entry in trace_map.entries:
            parsed.keys.append(entry.key)
            if entry.buckets is not None:
                parsed.values.append([Bucket(b.low, b.high, b.count) for b in entry.buckets])
            elif entry.stats is not None:
                parsed.values.append(StatsValue(entry.stats.count, entry.stats.average, entry.stats.total))
            else:
                parsed.values.append(entry.value)
        return parsed


@dataclass
class Snapshot:
    """One printout of maps: bpftrace's print() on an interval, or one interval of a BCC tool."""

    label: str | None
    """What was printed before it, e.g. a time '21:30:38'; None if nothing."""
    maps: list[ParsedMap] = field(default_factory=list)
    line: int | None = None
    """The output line it began on (its time stamp, else its first map)."""


@dataclass
class Column:
    """One column of an event table, values in row order (None where a row had no value)."""

    name: str
    unit: str | None
    """Inferred from the name: ns, us, ms, s, bytes, KB, ..."""
    numeric: bool
    """Every present value is a number (the values are numbers, else strings)."""
    values: list[Any]


class RowRun(NamedTuple):
    """Consecutive output lines that are rows of a table, under one printout of its header.

    Line numbers count every line parsed (or fed to a stream) from 0, so a run's rows can be shown
    next to its lines, as get_result does for BCC tools.
    """

    header_line: int
    """The line of the header printout the rows are under."""
    start: int
    """The first row's line."""
    stop: int
    """One past the last row's line."""


@dataclass
class EventTable:
    """Event lines (printf output, a BCC tool's rows) split into columns under their header."""

    header: str | None
    """The header row as printed; None when the columns were inferred (col1, col2, ...)."""
    columns: list[Column]
    rows: int
    row_runs: list[RowRun] = field(default_factory=list)
    """Where the rows came from, in row order; empty for inferred tables."""


@dataclass
class ParsedOutput:
    """Everything an analyzer recognised in one output. Lines it did not recognise are counted."""

    kind: str
    """The analyzer that parsed it, e.g. 'bpftrace', 'bpftrace_json', 'bcc'."""
    maps: list[ParsedMap] = field(default_factory=list)
    """The latest printout of each map."""
    snapshots: list[Snapshot] = field(default_factory=list)
    """Every printout of every map, grouped into snapshots, in output order."""
    tables: list[EventTable] = field(default_factory=list)
    other_lines: int = 0
    other_sample: list[str] = field(default_factory=list)
    lost_events: int = 0
    """Events the kernel dropped ('Lost N events')."""
    helper_errors: list[str] = field(default_factory=list)


# -- what is learnt from parsed output ---------------------------------------------------------


class Percentile(Model):
    """A histogram percentile: the bucket it falls in is known exactly; a value inside it is not."""

    bucket: str = Field(description="The bucket holding the rank, as bpftrace prints it, e.g. '[600, 800)'.")
    low: float | None = Field(description="The bucket's inclusive lower bound; None for the underflow bucket.")
    high: float | None = Field(description="The bucket's exclusive upper bound; None for the overflow bucket.")
    estimate: float | None = Field(
        description="An ESTIMATE: interpolated linearly inside the bucket (an open bucket gives its finite bound)."
    )


class Distribution(Model):
    """Statistics of one printout of one histogram: percentiles as buckets, with estimates inside them."""

    subject: str = Field(description="The map and key, e.g. '@usecs' or '@us[xfs_file_read_iter]'.")
    unit: str | None = Field(description="Unit inferred from the name, e.g. 'us'; None when unknown.")
    count: int = Field(description="Samples in this printout (the sum of its buckets).")
    min: float | None = Field(description="Lower bound of the first non-empty bucket.")
    max: float | None = Field(description="Upper bound of the last non-empty bucket (exclusive).")
    mean: float | None = Field(description="An estimate from bucket midpoints.")
    p50: Percentile | None = Field(description="None when withheld (too few samples, see `withheld`).")
    p90: Percentile | None = Field(description="None when withheld (needs >= 10 samples).")
    p99: Percentile | None = Field(description="None when withheld (needs >= 100 samples).")
    withheld: list[str] = Field(
        default_factory=list, description="Statistics not given and why, e.g. 'p99: needs >= 100 samples, has 12'."
    )
    printout: int = Field(1, description="Which printout of the map these numbers are from (1 = the first).")
    printouts: int = Field(1, description="How many times the map was printed in the output.")
    line: int | None = Field(None, description="The output line that printout began on (0-based).")
    mode: str | None = Field(description="The fullest bucket, as bpftrace prints it.")
    modes: list[str] = Field(default_factory=list, description="Both peaks when the distribution is bimodal.")
    underflow: int = Field(0, description="Values below the first bound (negative values in hist()).")
    overflow: int = Field(0, description="Values above the last bound of an lhist().")


class PrintoutTotal(Model):
    """One printout of a map: where it is and how much it holds."""

    printout: int = Field(description="1 for the first printout of the map.")
    line: int | None = Field(description="The output line it began on (0-based, as get_result counts).")
    label: str | None = Field(description="The time stamp or line printed before it, if any.")
    keys: int
    total: float | None = Field(
        description="Samples of a histogram, the count of stats(), the sum of a numeric map; None otherwise."
    )


class MapPrintouts(Model):
    """Every printout of one map and whether they are running totals or per-interval amounts."""

    map: str
    kind: str
    printouts: int = Field(description="How many times the map was printed.")
    pattern: Literal["single", "cumulative", "per_interval", "unchanged"] = Field(
        description="cumulative: nothing ever fell between printouts (never cleared): the latest holds it all; "
        "per_interval: something fell or vanished (print then clear): each printout is one interval."
    )
    reason: str = Field(description="What in the printouts decided the pattern.")
    total: float | None = Field(
        description="Over the whole output: the latest printout's total when cumulative, the sum of every "
        "printout's when per-interval."
    )
    shown: int = Field(description="The printout the stats, top keys and maps report (the latest by default).")
    items: list[PrintoutTotal] = Field(description="The printouts in order (at most 50: the first and last ones).")
    omitted: int = Field(0, description="Printouts left out of `items` by that cap.")


class KeyShare(Model):
    key: str = Field(description="The key, shortened for display (stacks as 'f0 <- f1 <- ...').")
    value: float
    share: float | None = Field(description="Fraction of the map's total (None when values are negative).")


class TopKeys(Model):
    """The largest keys of a map (by value, or by count for keyed histograms)."""

    subject: str
    unit: str | None
    keys: int = Field(description="How many keys the map has.")
    total: float
    top: list[KeyShare]
    top1_share: float | None = Field(description="Share of the largest key: concentration.")
    top3_share: float | None


class Series(Model):
    """One quantity across printouts (a key of a map printed each interval, a histogram's p99, ...)."""

    subject: str
    unit: str | None
    labels: list[str] = Field(description="The interval labels (times when printed, else #1, #2, ...).")
    values: list[float]
    cumulative: bool = Field(
        False, description="The map was never cleared, so values were differenced to per-interval amounts."
    )
    mean: float
    min: float
    max: float
    trend: Literal["rising", "falling", "flat"]
    change: float = Field(
        description="Fitted change over the whole series, relative to its mean (0.5 = +50%)."
    )
    withheld: list[str] = Field(
        default_factory=list, description="Findings not looked for and why, e.g. 'spikes and trends: need >= 5 intervals'."
    )


class ColumnSummary(Model):
    """A column of an event table: numbers get percentiles, names get their most frequent values."""

    column: str
    unit: str | None
    role: str = Field(description="duration, size, count, id, timestamp, error, or value.")
    count: int
    distinct: int | None = None
    withheld: list[str] = Field(
        default_factory=list, description="Percentiles not given for too few values, e.g. 'p99: needs >= 100'."
    )
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None
    top: list[KeyShare] = Field(default_factory=list)


class TableSummary(Model):
    """An event table in brief: its columns, a few rows, each column summarised, the slowest rows."""

    header: str | None
    rows: int
    columns: list[str]
    sample: list[list[Any]] = Field(description="The first rows, as parsed.")
    summaries: list[ColumnSummary]
    slowest_by: str | None = Field(None, description="The duration column the slowest rows are sorted by.")
    slowest: list[dict[str, Any]] = Field(
        default_factory=list, description="The slowest rows, column -> value."
    )


class Anomaly(Model):
    """Something unusual, with the evidence that shows it."""

    kind: str = Field(
        description="bimodal, long_tail, isolated_tail, underflow, overflow, dominant_key, spike, "
        "trend, errors, slow_events, lost_events, helper_errors, ..."
    )
    severity: Severity
    subject: str = Field(description="The map, key, series or column it concerns.")
    message: str
    evidence: dict[str, Any] = Field(description="Where it shows: bucket, key, interval, value, threshold.")
