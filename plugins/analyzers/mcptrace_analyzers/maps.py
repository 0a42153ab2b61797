"""What the maps say: histogram statistics, top keys, time series, and their anomalies."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from mcptrace_analyzers import stats
from mcptrace_analyzers.units import format_quantity, unit_of
from mcptrace_core.analysis import (
    Anomaly,
    Bucket,
    Distribution,
    KeyShare,
    ParsedMap,
    Series,
    Snapshot,
    TopKeys,
)
from mcptrace_core.models import Severity

MAX_HISTOGRAMS = 20
MAX_SERIES_KEYS = 5
LONG_TAIL_RATIO = 10
DOMINANT_SHARE = 0.5
ISOLATED_GAP = 2
ISOLATED_SHARE = 0.05
TREND_CHANGE, TREND_R2 = 0.2, 0.5
MIN_SPIKE_POINTS, MIN_TREND_POINTS = 5, 5
SPIKE_MIN_CHANGE = 0.5


def display_key(key: str | None) -> str:
    """A key for people: stack keys become 'frame0 <- frame1 <- ...' (innermost first)."""
    if key is None:
        return ""
    if not key:
        return "(empty)"
    if "\n" not in key:
        return key
    frames = [frame.strip() for frame in key.split("\n") if frame.strip()]
    return " <- ".join(frames[:4]) + (" <- ..." if len(frames) > 4 else "")


def subject(name: str, key: str | None) -> str:
    return name if key is None else f"{name}[{display_key(key)}]"


# -- histograms --------------------------------------------------------------------------------


def distributions(maps: list[ParsedMap]) -> Iterator[tuple[Distribution, list[Bucket]]]:
    """Every histogram (the fullest keys first when a map has many), with its buckets."""
    for parsed in maps:
        if parsed.kind != "hist":
            continue
        entries = sorted(zip(parsed.keys, parsed.values), key=lambda entry: -sum(b.count for b in entry[1]))
        for key, buckets in entries[:MAX_HISTOGRAMS]:
            yield distribution(subject(parsed.name, key), unit_of(parsed.name), buckets), buckets


def distribution(name: str, unit: str | None, buckets: list[Bucket]) -> Distribution:
    filled = [bucket for bucket in buckets if bucket.count]
    counts = [bucket.count for bucket in buckets]
    modes = stats.bimodal(counts)
    fullest = max(buckets, key=lambda bucket: bucket.count) if filled else None
    return Distribution(
        subject=name,
        unit=unit,
        count=sum(counts),
        min=(filled[0].low if filled[0].low is not None else filled[0].high) if filled else None,
        max=(filled[-1].high if filled[-1].high is not None else filled[-1].low) if filled else None,
        mean=stats.mean(buckets),
        p50=stats.percentile(buckets, 0.50),
        p90=stats.percentile(buckets, 0.90),
        p99=stats.percentile(buckets, 0.99),
        mode=stats.bucket_label(fullest) if fullest else None,
        modes=[stats.bucket_label(buckets[modes.first]), stats.bucket_label(buckets[modes.second])]
        if modes
        else [],
        underflow=sum(bucket.count for bucket in buckets if bucket.low is None),
        overflow=sum(bucket.count for bucket in buckets if bucket.high is None),
    )


def histogram_anomalies(dist: Distribution, buckets: list[Bucket]) -> list[Anomaly]:
    found = []
    unit, name = dist.unit, dist.subject
    if dist.modes:
        modes = stats.bimodal([bucket.count for bucket in buckets])
        assert modes is not None
        found.append(
            Anomaly(
                kind="bimodal",
                severity=Severity.low,
                subject=name,
                message=f"{name} has two modes, {dist.modes[0]} and {dist.modes[1]} {unit or ''}: two populations "
                "(e.g. cache hits and misses, fast and slow paths)".replace("  ", " "),
                evidence={
                    "modes": dist.modes,
                    "counts": [buckets[modes.first].count, buckets[modes.second].count],
                    "valley": stats.bucket_label(buckets[modes.valley]),
                    "valley_count": buckets[modes.valley].count,
                },
            )
        )
    if dist.p50 and dist.p99 and dist.count >= 20 and dist.p99 / dist.p50 >= LONG_TAIL_RATIO:
        found.append(
            Anomaly(
                kind="long_tail",
                severity=Severity.medium,
                subject=name,
                message=f"{name}: p99 {format_quantity(dist.p99, unit)} is {dist.p99 / dist.p50:.0f}x the median "
                f"{format_quantity(dist.p50, unit)}",
                evidence={"p50": dist.p50, "p99": dist.p99, "ratio": round(dist.p99 / dist.p50, 1)},
            )
        )
    isolated = _isolated_tail(buckets)
    if isolated:
        count = sum(bucket.count for bucket in isolated)
        labels = [stats.bucket_label(bucket) for bucket in isolated if bucket.count]
        found.append(
            Anomaly(
                kind="isolated_tail",
                severity=Severity.medium,
                subject=name,
                message=f"{name}: {count} outliers ({count / dist.count:.1%}) in {', '.join(labels)}, "
                f"far above the rest (empty buckets between)",
                evidence={"buckets": labels, "count": count, "share": round(count / dist.count, 4)},
            )
        )
    if dist.underflow:
        found.append(
            Anomaly(
                kind="underflow",
                severity=Severity.medium,
                subject=name,
                message=f"{name}: {dist.underflow} values below the lowest bucket (negative in hist()): a delta "
                "computed without its start time, or a signed value",
                evidence={"bucket": stats.bucket_label(buckets[0]), "count": dist.underflow},
            )
        )
    if dist.overflow and dist.count:
        found.append(
            Anomaly(
                kind="overflow",
                severity=Severity.low,
                subject=name,
                message=f"{name}: {dist.overflow} values ({dist.overflow / dist.count:.1%}) above the lhist() maximum; "
                "raise the maximum to see their spread",
                evidence={"bucket": stats.bucket_label(buckets[-1]), "count": dist.overflow},
            )
        )
    return found


def _isolated_tail(buckets: list[Bucket]) -> list[Bucket]:
    """Non-empty top buckets separated from the rest by >= 2 empty buckets and holding <= 5%."""
    total = sum(bucket.count for bucket in buckets)
    filled = [index for index, bucket in enumerate(buckets) if bucket.count]
    for lower, upper in zip(reversed(filled[:-1]), reversed(filled[1:])):
        if upper - lower - 1 >= ISOLATED_GAP:
            tail = buckets[upper:]
            return tail if sum(bucket.count for bucket in tail) <= ISOLATED_SHARE * total else []
    return []


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
        p99 = [stats.percentile(b, 0.99) or 0.0 for b in merged]
        counts = [float(sum(bucket.count for bucket in b)) for b in merged]
        return [
            make_series(f"{name} count", None, labels, counts),
            make_series(f"{name} p99", unit_of(name), labels, p99),
        ]
    per_key: dict[str | None, list[float]] = {}
    for index, parsed in enumerate(printed):
        for key, value in zip(parsed.keys, parsed.values) if parsed else ():
            size = value.average if parsed.kind == "stats" else entry_size(parsed.kind, value)
            if size is not None:
                per_key.setdefault(key, [0.0] * len(printed))[index] = size
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
