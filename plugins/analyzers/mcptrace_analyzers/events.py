"""What event tables say: each column summarised, the slowest events, failures and slow tails."""

from __future__ import annotations

from typing import Any

from mcptrace_analyzers import stats
from mcptrace_analyzers.histograms import PERCENTILES
from mcptrace_analyzers.maps import ranked_keys
from mcptrace_analyzers.stats import LARGE
from mcptrace_analyzers.units import format_quantity, role_of
from mcptrace_core.analysis import Anomaly, Column, ColumnSummary, EventTable, KeyShare, TableSummary, TopKeys
from mcptrace_core.models import Severity

SAMPLE_ROWS = 5
TOP_VALUES = 5
SLOWEST_ROWS = 5
SLOW_TAIL_RATIO = 10
CATEGORICAL_ROLES = frozenset({"id", "timestamp"})
MAX_KEYED_ROWS = 500
SUCCESS_WORDS = frozenset({"", "ok", "success", "none", "-"})


def summarize(table: EventTable, top_n: int) -> tuple[TableSummary, list[TopKeys], list[Anomaly]]:
    """The table in brief, its top keys when it is a per-key summary (syscount, softirqs), anomalies."""
    roles = {column.name: role_of(column.name, column.numeric) for column in table.columns}
    summaries = [_column_summary(column, roles[column.name], top_n) for column in table.columns]
    duration = next(
        (c for c in table.columns if c.numeric and roles[c.name] == "duration" and _varies(c)), None
    )
    slowest = _slowest(table, duration) if duration else []
    summary = TableSummary(
        header=table.header,
        rows=table.rows,
        columns=[column.name for column in table.columns],
        sample=[
            [column.values[row] for column in table.columns] for row in range(min(SAMPLE_ROWS, table.rows))
        ],
        summaries=summaries,
        slowest_by=duration.name if duration else None,
        slowest=slowest,
    )
    anomalies = [a for c in table.columns if roles[c.name] == "error" for a in _failures(c)]
    if duration is not None:
        anomalies.extend(_slow_tail(next(s for s in summaries if s.column == duration.name), slowest))
    return summary, _per_key_top(table, roles, top_n), anomalies


def _per_key_top(table: EventTable, roles: dict[str, str], top_n: int) -> list[TopKeys]:
    """A table with one row per key (a name, or an id and its name) and numbers beside it is a map
    printed as columns: rank its keys by each number."""
    if table.header is None or not 2 <= table.rows <= MAX_KEYED_ROWS:
        return []
    labels = [c for c in table.columns if not c.numeric or roles[c.name] == "id"][:2]
    if not labels or labels[0] is not table.columns[0]:
        return []
    keys = [" ".join(str(c.values[row]) for c in labels) for row in range(table.rows)]
    if len(set(keys)) != len(keys):
        return []
    found = []
    for column in table.columns:
        if column.numeric and roles[column.name] not in CATEGORICAL_ROLES | {"error"}:
            pairs = [(key, float(value)) for key, value in zip(keys, column.values) if value is not None]
            found.append(ranked_keys(column.name, column.unit, pairs, top_n))
    return found


def _varies(column: Column) -> bool:
    return len({value for value in column.values[:1000] if value is not None}) > 1


def _column_summary(column: Column, role: str, top_n: int) -> ColumnSummary:
    if role == "timestamp":  # when events happened: counting each time stamp says little
        present = (
            sum(1 for value in column.values if value is not None) if len(column.values) < LARGE else None
        )
        return ColumnSummary(
            column=column.name, unit=column.unit, role=role, count=present or len(column.values)
        )
    if column.numeric and role not in CATEGORICAL_ROLES and role != "error":
        described = stats.describe(column.values)
        if described is not None:
            count, low, p50, p90, p99, high, mean = described
            given = {"p50": p50, "p90": p90, "p99": p99}
            withheld = []
            for label, q in PERCENTILES:
                if count < stats.min_samples(q):
                    given[label] = None
                    withheld.append(f"{label}: needs >= {stats.min_samples(q)} values, has {count}")
            return ColumnSummary(
                column=column.name,
                unit=column.unit,
                role=role,
                count=count,
                withheld=withheld,
                min=low,
                max=high,
                mean=mean,
                **given,
            )
    total, distinct, common = stats.value_counts(column.values, column.numeric, top_n)
    top = [
        KeyShare(key=str(value), value=count, share=round(count / (total or 1), 4)) for value, count in common
    ]
    return ColumnSummary(
        column=column.name, unit=column.unit, role=role, count=total, distinct=distinct, top=top
    )


def _slowest(table: EventTable, column: Column) -> list[dict[str, Any]]:
    return [
        {c.name: c.values[index] for c in table.columns}
        for index in stats.largest(column.values, SLOWEST_ROWS)
    ]


def _failures(column: Column) -> list[Anomaly]:
    """Rows whose error/return/exit column is not 0."""
    total, _, common = stats.value_counts(column.values, column.numeric, len(column.values))
    failed = {str(code): count for code, count in common if _is_failure(code)}
    count = sum(failed.values())
    if not count:
        return []
    share = count / total
    codes = dict(list(failed.items())[:TOP_VALUES])
    return [
        Anomaly(
            kind="errors",
            severity=Severity.medium if share >= 0.1 else Severity.low,
            subject=column.name,
            message=f"{count} of {total} events ({share:.1%}) failed ({column.name} not 0); commonest codes {codes}",
            evidence={"column": column.name, "failed": count, "share": round(share, 4), "codes": codes},
        )
    ]


def _is_failure(value: Any) -> bool:
    """Not 0: a number other than zero, or words such as 'code 1', 'signal 9 (KILL)', 'ENOENT'."""
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip()
    try:
        return float(text) != 0
    except ValueError:
        return text.lower() not in SUCCESS_WORDS


def _slow_tail(summary: ColumnSummary, slowest: list[dict[str, Any]]) -> list[Anomaly]:
    if not (
        summary.p50 and summary.p99 and summary.p99 / summary.p50 >= SLOW_TAIL_RATIO  # p99: >= 100 values
    ):
        return []
    unit = summary.unit
    return [
        Anomaly(
            kind="slow_events",
            severity=Severity.medium,
            subject=summary.column,
            message=f"{summary.column}: p99 {format_quantity(summary.p99, unit)} is {summary.p99 / summary.p50:.0f}x "
            f"the median {format_quantity(summary.p50, unit)}; slowest {format_quantity(summary.max, unit)}",
            evidence={"p50": summary.p50, "p99": summary.p99, "max": summary.max, "slowest": slowest[:3]},
        )
    ]
