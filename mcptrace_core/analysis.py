"""The shared shape of parsed trace output and of what is learnt from it.

An analyzer (``interfaces.Analyzer``) turns raw output into a ``ParsedOutput``; the statistics and
findings computed from it (``Distribution``, ``TopKeys``, ``Series``, ``ColumnSummary``, ``Anomaly``)
are the same whoever parsed it, so a third-party analyzer that adds an output kind gets percentiles,
top keys, trends and anomalies for free. Maps reuse ``TraceMap``, the form get_result returns.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mcptrace_core.models import Model, Severity, TraceMap


class Snapshot(Model):
    """One printout of maps: bpftrace's print() on an interval, or one interval of a BCC tool."""

    label: str | None = Field(description="What was printed before it, e.g. a time '21:30:38'; None if nothing.")
    maps: list[TraceMap] = Field(default_factory=list)


class Column(Model):
    """One column of an event table, values in row order (None where a row had no value)."""

    name: str
    unit: str | None = Field(default=None, description="Inferred from the name: ns, us, ms, s, bytes, KB, ...")
    numeric: bool = Field(description="Every present value is a number.")
    values: list[Any] = Field(description="Numbers when numeric, else strings.")


class EventTable(Model):
    """Event lines (printf output, a BCC tool's rows) split into columns under their header."""

    header: str | None = Field(description="The header row as printed; None when the columns were inferred.")
    columns: list[Column]
    rows: int = Field(ge=0)


class ParsedOutput(Model):
    """Everything an analyzer recognised in one output. Parts it did not recognise stay in other_lines."""

    kind: str = Field(description="The analyzer that parsed it, e.g. 'bpftrace', 'bpftrace_json', 'bcc'.")
    maps: list[TraceMap] = Field(default_factory=list, description="The latest printout of each map.")
    snapshots: list[Snapshot] = Field(
        default_factory=list, description="Every printout in order, when maps were printed more than once."
    )
    tables: list[EventTable] = Field(default_factory=list)
    other_lines: int = Field(0, description="Lines that were neither maps nor table rows nor known notices.")
    other_sample: list[str] = Field(default_factory=list, description="The first few of those lines.")
    lost_events: int = Field(0, description="Events the kernel dropped ('Lost N events').")
    helper_errors: list[str] = Field(default_factory=list, description="BPF helper failures the tracer reported.")


# -- what is learnt from parsed output ---------------------------------------------------------


class Distribution(Model):
    """Statistics of one histogram. Percentiles and the mean are estimated inside buckets (see stats)."""

    subject: str = Field(description="The map and key, e.g. '@usecs' or '@us[xfs_file_read_iter]'.")
    unit: str | None = Field(description="Unit inferred from the name, e.g. 'us'; None when unknown.")
    count: int
    min: float | None = Field(description="Lower bound of the first non-empty bucket.")
    max: float | None = Field(description="Upper bound of the last non-empty bucket (exclusive).")
    mean: float | None = Field(description="Estimated from bucket midpoints.")
    p50: float | None
    p90: float | None
    p99: float | None
    mode: str | None = Field(description="The fullest bucket, as bpftrace prints it.")
    modes: list[str] = Field(default_factory=list, description="Both peaks when the distribution is bimodal.")
    underflow: int = Field(0, description="Values below the first bound (negative values in hist()).")
    overflow: int = Field(0, description="Values above the last bound of an lhist().")


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
    change: float = Field(description="Fitted change over the whole series, relative to its mean (0.5 = +50%).")


class ColumnSummary(Model):
    """A column of an event table: numbers get percentiles, names get their most frequent values."""

    column: str
    unit: str | None
    role: str = Field(description="duration, size, count, id, timestamp, error, or value.")
    count: int
    distinct: int | None = None
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
    slowest: list[dict[str, Any]] = Field(default_factory=list, description="The slowest rows, column -> value.")


class Anomaly(Model):
    """Something unusual, with the evidence that shows it."""

    kind: str = Field(description="bimodal, long_tail, isolated_tail, underflow, overflow, dominant_key, spike, "
                                  "trend, errors, slow_events, lost_events, helper_errors, ...")
    severity: Severity
    subject: str = Field(description="The map, key, series or column it concerns.")
    message: str
    evidence: dict[str, Any] = Field(description="Where it shows: bucket, key, interval, value, threshold.")
