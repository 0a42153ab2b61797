"""What the maps say: top keys, time series, and their anomalies (histograms: ``histograms``)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from mcptrace_analyzers import stats
from mcptrace_analyzers.histograms import PERCENTILES
from mcptrace_analyzers.keys import display_key, subject
from mcptrace_analyzers.units import format_quantity, unit_of
from mcptrace_core.analysis import Anomaly, Bucket, KeyShare, ParsedMap, Series, Snapshot, TopKeys
from mcptrace_core.models import Severity

MAX_SERIES_KEYS = 5
DOMINANT_SHARE = 0.5
TREND_CHANGE, TREND_R2 = 0.2, 0.5
MIN_SPIKE_POINTS, MIN_TREND_POINTS = 5, 5
SPIKE_MIN_CHANGE = 0.5


# -- top keys ----------------------------------------------------------------------------------


def entry_size(kind: str, value: Any) -> float | None:
    """How big an entry is for ranking: a number, a histogram's count, a stats() total (else average)."""
    if kind == "hist":
        return float(sum(bucket.count for bucket in value))
    if kind == "stats":
        return value.total if value.total is not None else value.average
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def top_keys(parsed: ParsedMap, limit: int) -> TopKeys | None:
    """The largest keys of a keyed map: by value, by count of a histogram, by total of stats()."""
    sized = [
        (key, size)
        for key, value in zip(parsed.keys, parsed.values)
        if (size := entry_size(parsed.kind, value)) is not None
    ]
    if len(sized) < 2 or any(key is None for key, _ in sized):
        return None
    averages = parsed.kind == "stats" and all(value.total is None for value in parsed.values)
    unit = None if parsed.kind == "hist" else unit_of(parsed.name)
    pairs = [(display_key(key), size) for key, size in sized]
    return ranked_keys(parsed.name, unit, pairs, limit, shares=not averages)


def ranked_keys(
    name: str, unit: str | None, pairs: list[tuple[str, float]], limit: int, shares: bool = True
) -> TopKeys:
    """Keys ranked by value, with their share of the total when shares add up (no negatives, no averages)."""
    pairs = sorted(pairs, key=lambda pair: -pair[1])
    total = sum(value for _, value in pairs)
    shareable = shares and total > 0 and all(value >= 0 for _, value in pairs)
    top = [
        KeyShare(key=key, value=value, share=round(value / total, 4) if shareable else None)
        for key, value in pairs[:limit]
    ]
    return TopKeys(
        subject=name,
        unit=unit,
        keys=len(pairs),
        total=total,
        top=top,
        top1_share=top[0].share if top else None,
        top3_share=round(sum(value for _, value in pairs[:3]) / total, 4) if shareable else None,
    )


def top_anomalies(top: TopKeys) -> list[Anomaly]:
    if top.top1_share is None or top.keys < 3 or top.top1_share < DOMINANT_SHARE:
        return []
    leader = top.top[0]
    return [
        Anomaly(
            kind="dominant_key",
            severity=Severity.info,
            subject=top.subject,
            message=f"{top.subject}: key {leader.key!r} holds {leader.share:.0%} of the total across {top.keys} keys",
            evidence={"key": leader.key, "value": leader.value, "share": leader.share, "keys": top.keys},
        )
    ]


# -- time series -------------------------------------------------------------------------------


def series(snapshots: list[Snapshot]) -> list[Series]:
    """One series per quantity of each map printed in two or more snapshots."""
    names: dict[str, list[int]] = {}
    for index, snapshot in enumerate(snapshots):
        for trace_map in snapshot.maps:
            names.setdefault(trace_map.name, []).append(index)
    found = []
    for name, seen in names.items():
        if len(seen) < 2:
            continue
        window = snapshots[seen[0] : seen[-1] + 1]
        labels = [s.label or f"#{seen[0] + offset + 1}" for offset, s in enumerate(window)]
        printed = [next((m for m in s.maps if m.name == name), None) for s in window]
        found.extend(_map_series(name, labels, printed))
    return found


def _map_series(name: str, labels: list[str], printed: list[ParsedMap | None]) -> list[Series]:
    kinds = {m.kind for m in printed if m is not None}
    if len(kinds) > 1:  # the name was reused for another kind of value: no one quantity to follow
        return []
    if kinds == {"hist"}:
        merged = [_merged_buckets(m) for m in printed]
        cumulative = _cumulative_buckets(merged)
        if cumulative:  # never cleared: what each interval added is the difference
            merged = [merged[0]] + [_bucket_delta(a, b) for a, b in pairwise(merged)]
        counts = [float(sum(bucket.count for bucket in b)) for b in merged]
        found = [make_series(f"{name} count", None, labels, counts, cumulative)]
        fewest = min(int(count) for count in counts)
        # the highest percentile every interval has the samples for (an estimate inside buckets)
        label, q = next(((label, q) for label, q in reversed(PERCENTILES) if fewest >= stats.min_samples(q)), ("", 0))
        if label:
            values = [stats.percentile(b, q) or 0.0 for b in merged]
            found.append(make_series(f"{name} {label}", unit_of(name), labels, values, cumulative))
        return found
    per_key: dict[str | None, list[float]] = {}
    width = len(printed)
    for index, parsed in enumerate(printed):
        if parsed is None:
            continue
        if parsed.kind == "value":  # the common case, a loop without a call per entry
            sizes: Any = ((k, v) for k, v in zip(parsed.keys, parsed.values) if type(v) is int or type(v) is float)
        else:
            sizes = (
                (k, v.average if parsed.kind == "stats" else entry_size(parsed.kind, v))
                for k, v in zip(parsed.keys, parsed.values)
            )
        for key, size in sizes:
            if size is not None:
                column = per_key.get(key)
                if column is None:
                    column = per_key[key] = [0.0] * width
                column[index] = size
    if not per_key:
        return []
    cumulative = kinds == {"value"} and _cumulative(list(per_key.values()))
    if cumulative:
        per_key = {key: [values[0]] + [b - a for a, b in pairwise(values)] for key, values in per_key.items()}
    unit = unit_of(name)
    ranked = sorted(per_key.items(), key=lambda item: -sum(item[1]))
    result = []
    if len(per_key) > 1 and kinds == {"value"}:
        totals = [sum(column) for column in zip(*per_key.values())]
        result.append(make_series(f"{name} total", unit, labels, totals, cumulative))
    for key, values in ranked[:MAX_SERIES_KEYS]:
        result.append(make_series(subject(name, key), unit, labels, values, cumulative))
    return result


def _merged_buckets(parsed: ParsedMap | None) -> list[Bucket]:
    """All keys of a histogram map added up, bucket by bucket."""
    if parsed is None:
        return []
    merged: dict[tuple[float | None, float | None], int] = {}
    for buckets in parsed.values:
        for bucket in buckets:
            merged[(bucket.low, bucket.high)] = merged.get((bucket.low, bucket.high), 0) + bucket.count
    order = sorted(merged, key=lambda bounds: float("-inf") if bounds[0] is None else bounds[0])
    return [Bucket(low, high, merged[(low, high)]) for low, high in order]


def _cumulative_buckets(printouts: list[list[Bucket]]) -> bool:
    """No bucket ever fell from one printout to the next and one grew: a histogram never cleared."""
    columns: dict[tuple[float | None, float | None], list[float]] = {}
    for index, buckets in enumerate(printouts):
        for bucket in buckets:
            columns.setdefault((bucket.low, bucket.high), [0.0] * len(printouts))[index] = bucket.count
    return _cumulative(list(columns.values()))


def _bucket_delta(before: list[Bucket], after: list[Bucket]) -> list[Bucket]:
    old = {(bucket.low, bucket.high): bucket.count for bucket in before}
    return [Bucket(b.low, b.high, b.count - old.get((b.low, b.high), 0)) for b in after]


def _cumulative(columns: list[list[float]]) -> bool:
    """Every key only grows and one grows: the map was printed without clear()."""
    grows = False
    for values in columns:
        for before, after in pairwise(values):
            if after < before:
                return False
            grows = grows or after > before
    return grows


def make_series(
    name: str, unit: str | None, labels: list[str], values: list[float], cumulative: bool = False
) -> Series:
    """A series with its trend: rising/falling when a fitted line explains >= half the variance and
    changes by >= 20% of the mean over the series."""
    change, r2 = stats.linear_trend(values)
    trend = "flat"
    if r2 >= TREND_R2 and abs(change) >= TREND_CHANGE:
        trend = "rising" if change > 0 else "falling"
    return Series(
        subject=name,
        unit=unit,
        labels=labels,
        values=values,
        cumulative=cumulative,
        mean=sum(values) / len(values),
        min=min(values),
        max=max(values),
        trend=trend,
        change=round(change, 4),
        withheld=[]
        if len(values) >= max(MIN_SPIKE_POINTS, MIN_TREND_POINTS)
        else [f"spikes and trends: need >= {max(MIN_SPIKE_POINTS, MIN_TREND_POINTS)} intervals, has {len(values)}"],
    )


def series_anomalies(item: Series) -> list[Anomaly]:
    """Spikes and dips (robust z >= 3.5 and at least 50% off the median) and a clear trend."""
    found = []
    if len(item.values) >= MIN_SPIKE_POINTS:
        median = stats.median(item.values)
        outliers = [
            (label, value, z)
            for label, value, z in zip(item.labels, item.values, stats.robust_z(item.values))
            if abs(z) >= stats.SPIKE_Z and abs(value - median) >= SPIKE_MIN_CHANGE * abs(median)
        ]
        if outliers:
            label, value, z = max(outliers, key=lambda outlier: abs(outlier[2]))
            direction = "spike" if z > 0 else "dip"
            where = (
                f"at {label}" if len(outliers) == 1 else f"in {len(outliers)} intervals, largest at {label}"
            )
            found.append(
                Anomaly(
                    kind="spike",
                    severity=Severity.medium,
                    subject=item.subject,
                    message=f"{item.subject}: {direction} {where}: {format_quantity(value, item.unit)} against a median "
                    f"of {format_quantity(median, item.unit)} (robust z {z:+.1f})",
                    evidence={
                        "intervals": [o[0] for o in outliers[:10]],
                        "values": [o[1] for o in outliers[:10]],
                        "median": median,
                        "robust_z": [round(o[2], 1) for o in outliers[:10]],
                    },
                )
            )
    if item.trend != "flat" and len(item.values) >= MIN_TREND_POINTS:
        found.append(
            Anomaly(
                kind="trend",
                severity=Severity.low,
                subject=item.subject,
                message=f"{item.subject} is {item.trend} over {len(item.values)} intervals: "
                f"{format_quantity(item.values[0], item.unit)} at {item.labels[0]}, "
                f"{format_quantity(item.values[-1], item.unit)} at {item.labels[-1]}",
                evidence={
                    "first": item.values[0],
                    "last": item.values[-1],
                    "change": item.change,
                    "from": item.labels[0],
                    "to": item.labels[-1],
                },
            )
        )
    return found
