"""What the maps say: histogram statistics, top keys, time series, and their anomalies."""

from __future__ import annotations

from collections.abc import Iterator

from mcptrace_core.analysis import Anomaly, Distribution, KeyShare, Series, Snapshot, TopKeys
from mcptrace_core.models import HistBucket, MapEntry, Severity, TraceMap

from mcptrace_analyzers import stats
from mcptrace_analyzers.units import format_quantity, unit_of

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


def subject(trace_map: TraceMap, entry: MapEntry) -> str:
    return trace_map.name if entry.key is None else f"{trace_map.name}[{display_key(entry.key)}]"


# -- histograms --------------------------------------------------------------------------------


def distributions(maps: list[TraceMap]) -> Iterator[tuple[Distribution, list[HistBucket]]]:
    """Every histogram (the fullest keys first when a map has many), with its buckets."""
    for trace_map in maps:
        if trace_map.kind != "hist":
            continue
        entries = sorted(trace_map.entries, key=lambda e: -sum(b.count for b in e.buckets or []))
        for entry in entries[:MAX_HISTOGRAMS]:
            yield distribution(subject(trace_map, entry), unit_of(trace_map.name), entry.buckets or []), entry.buckets or []


def distribution(name: str, unit: str | None, buckets: list[HistBucket]) -> Distribution:
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
        modes=[stats.bucket_label(buckets[modes.first]), stats.bucket_label(buckets[modes.second])] if modes else [],
        underflow=sum(bucket.count for bucket in buckets if bucket.low is None),
        overflow=sum(bucket.count for bucket in buckets if bucket.high is None),
    )


def histogram_anomalies(dist: Distribution, buckets: list[HistBucket]) -> list[Anomaly]:
    found = []
    unit, name = dist.unit, dist.subject
    if dist.modes:
        modes = stats.bimodal([bucket.count for bucket in buckets])
        assert modes is not None
        found.append(Anomaly(
            kind="bimodal", severity=Severity.low, subject=name,
            message=f"{name} has two modes, {dist.modes[0]} and {dist.modes[1]} {unit or ''}: two populations "
                    "(e.g. cache hits and misses, fast and slow paths)".replace("  ", " "),
            evidence={"modes": dist.modes, "counts": [buckets[modes.first].count, buckets[modes.second].count],
                      "valley": stats.bucket_label(buckets[modes.valley]), "valley_count": buckets[modes.valley].count},
        ))
    if dist.p50 and dist.p99 and dist.count >= 20 and dist.p99 / dist.p50 >= LONG_TAIL_RATIO:
        found.append(Anomaly(
            kind="long_tail", severity=Severity.medium, subject=name,
            message=f"{name}: p99 {format_quantity(dist.p99, unit)} is {dist.p99 / dist.p50:.0f}x the median "
                    f"{format_quantity(dist.p50, unit)}",
            evidence={"p50": dist.p50, "p99": dist.p99, "ratio": round(dist.p99 / dist.p50, 1)},
        ))
    isolated = _isolated_tail(buckets)
    if isolated:
        count = sum(bucket.count for bucket in isolated)
        labels = [stats.bucket_label(bucket) for bucket in isolated if bucket.count]
        found.append(Anomaly(
            kind="isolated_tail", severity=Severity.medium, subject=name,
            message=f"{name}: {count} outliers ({count / dist.count:.1%}) in {', '.join(labels)}, "
                    f"far above the rest (empty buckets between)",
            evidence={"buckets": labels, "count": count, "share": round(count / dist.count, 4)},
        ))
    if dist.underflow:
        found.append(Anomaly(
            kind="underflow", severity=Severity.medium, subject=name,
            message=f"{name}: {dist.underflow} values below the lowest bucket (negative in hist()): a delta "
                    "computed without its start time, or a signed value",
            evidence={"bucket": stats.bucket_label(buckets[0]), "count": dist.underflow},
        ))
    if dist.overflow and dist.count:
        found.append(Anomaly(
            kind="overflow", severity=Severity.low, subject=name,
            message=f"{name}: {dist.overflow} values ({dist.overflow / dist.count:.1%}) above the lhist() maximum; "
                    "raise the maximum to see their spread",
            evidence={"bucket": stats.bucket_label(buckets[-1]), "count": dist.overflow},
        ))
    return found


def _isolated_tail(buckets: list[HistBucket]) -> list[HistBucket]:
    """Non-empty top buckets separated from the rest by >= 2 empty buckets and holding <= 5%."""
    total = sum(bucket.count for bucket in buckets)
    filled = [index for index, bucket in enumerate(buckets) if bucket.count]
    for lower, upper in zip(reversed(filled[:-1]), reversed(filled[1:])):
        if upper - lower - 1 >= ISOLATED_GAP:
            tail = buckets[upper:]
            return tail if sum(bucket.count for bucket in tail) <= ISOLATED_SHARE * total else []
    return []


# -- top keys ----------------------------------------------------------------------------------


def entry_size(entry: MapEntry) -> float | None:
    if entry.buckets is not None:
        return float(sum(bucket.count for bucket in entry.buckets))
    if entry.stats is not None:
        return entry.stats.total if entry.stats.total is not None else entry.stats.average
    value = entry.value
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def top_keys(trace_map: TraceMap, limit: int) -> TopKeys | None:
    """The largest keys of a keyed map: by value, by count of a histogram, by total of stats()."""
    sized = [(entry, size) for entry in trace_map.entries if (size := entry_size(entry)) is not None]
    if len(sized) < 2 or any(entry.key is None for entry, _ in sized):
        return None
    averages = trace_map.kind == "stats" and all(e.stats and e.stats.total is None for e, _ in sized)
    unit = None if trace_map.kind == "hist" else unit_of(trace_map.name)
    pairs = [(display_key(entry.key), size) for entry, size in sized]
    return ranked_keys(trace_map.name, unit, pairs, limit, shares=not averages)


def ranked_keys(name: str, unit: str | None, pairs: list[tuple[str, float]], limit: int,
                shares: bool = True) -> TopKeys:
    """Keys ranked by value, with their share of the total when shares add up (no negatives, no averages)."""
    pairs = sorted(pairs, key=lambda pair: -pair[1])
    total = sum(value for _, value in pairs)
    shareable = shares and total > 0 and all(value >= 0 for _, value in pairs)
    top = [KeyShare(key=key, value=value, share=round(value / total, 4) if shareable else None)
           for key, value in pairs[:limit]]
    return TopKeys(
        subject=name, unit=unit, keys=len(pairs), total=total, top=top, top1_share=top[0].share if top else None,
        top3_share=round(sum(value for _, value in pairs[:3]) / total, 4) if shareable else None,
    )


def top_anomalies(top: TopKeys) -> list[Anomaly]:
    if top.top1_share is None or top.keys < 3 or top.top1_share < DOMINANT_SHARE:
        return []
    leader = top.top[0]
    return [Anomaly(
        kind="dominant_key", severity=Severity.info, subject=top.subject,
        message=f"{top.subject}: key {leader.key!r} holds {leader.share:.0%} of the total across {top.keys} keys",
        evidence={"key": leader.key, "value": leader.value, "share": leader.share, "keys": top.keys},
    )]


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


def _map_series(name: str, labels: list[str], printed: list[TraceMap | None]) -> list[Series]:
    kinds = {m.kind for m in printed if m is not None}
    if kinds == {"hist"}:
        merged = [_merged_buckets(m) for m in printed]
        p99 = [stats.percentile(b, 0.99) or 0.0 for b in merged]
        counts = [float(sum(bucket.count for bucket in b)) for b in merged]
        unit = unit_of(name)
        return [_series(f"{name} count", None, labels, counts), _series(f"{name} p99", unit, labels, p99)]
    per_key: dict[str | None, list[float]] = {}
    for index, trace_map in enumerate(printed):
        for entry in trace_map.entries if trace_map else []:
            size = entry_size(entry) if entry.stats is None else entry.stats.average
            if size is not None:
                per_key.setdefault(entry.key, [0.0] * len(printed))[index] = size
    if not per_key:
        return []
    cumulative = kinds == {"value"} and _cumulative(list(per_key.values()))
    if cumulative:
        per_key = {key: [values[0]] + [b - a for a, b in zip(values, values[1:])] for key, values in per_key.items()}
    unit = unit_of(name)
    ranked = sorted(per_key.items(), key=lambda item: -sum(item[1]))
    result = []
    if len(per_key) > 1 and kinds == {"value"}:
        totals = [sum(column) for column in zip(*per_key.values())]
        result.append(_series(f"{name} total", unit, labels, totals, cumulative))
    for key, values in ranked[:MAX_SERIES_KEYS]:
        label = name if key is None else f"{name}[{display_key(key)}]"
        result.append(_series(label, unit, labels, values, cumulative))
    return result


def _merged_buckets(trace_map: TraceMap | None) -> list[HistBucket]:
    """All keys of a histogram map added up, bucket by bucket."""
    if trace_map is None:
        return []
    merged: dict[tuple[float | None, float | None], int] = {}
    for entry in trace_map.entries:
        for bucket in entry.buckets or []:
            merged[(bucket.low, bucket.high)] = merged.get((bucket.low, bucket.high), 0) + bucket.count
    order = sorted(merged, key=lambda bounds: float("-inf") if bounds[0] is None else bounds[0])
    return [HistBucket(low=low, high=high, count=merged[(low, high)]) for low, high in order]


def _cumulative(columns: list[list[float]]) -> bool:
    """Every key only grows and one grows: the map was printed without clear()."""
    grows = False
    for values in columns:
        for before, after in zip(values, values[1:]):
            if after < before:
                return False
            grows = grows or after > before
    return grows


def _series(name: str, unit: str | None, labels: list[str], values: list[float], cumulative: bool = False) -> Series:
    change, r2 = stats.linear_trend(values)
    trend = "flat"
    if r2 >= TREND_R2 and abs(change) >= TREND_CHANGE:
        trend = "rising" if change > 0 else "falling"
    return Series(
        subject=name, unit=unit, labels=labels, values=values, cumulative=cumulative,
        mean=sum(values) / len(values), min=min(values), max=max(values), trend=trend, change=round(change, 4),
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
            where = f"at {label}" if len(outliers) == 1 else f"in {len(outliers)} intervals, largest at {label}"
            found.append(Anomaly(
                kind="spike", severity=Severity.medium, subject=item.subject,
                message=f"{item.subject}: {direction} {where}: {format_quantity(value, item.unit)} against a median "
                        f"of {format_quantity(median, item.unit)} (robust z {z:+.1f})",
                evidence={"intervals": [o[0] for o in outliers[:10]], "values": [o[1] for o in outliers[:10]],
                          "median": median, "robust_z": [round(o[2], 1) for o in outliers[:10]]},
            ))
    if item.trend != "flat" and len(item.values) >= MIN_TREND_POINTS:
        found.append(Anomaly(
            kind="trend", severity=Severity.low, subject=item.subject,
            message=f"{item.subject} is {item.trend} over {len(item.values)} intervals: "
                    f"{format_quantity(item.values[0], item.unit)} at {item.labels[0]}, "
                    f"{format_quantity(item.values[-1], item.unit)} at {item.labels[-1]}",
            evidence={"first": item.values[0], "last": item.values[-1], "change": item.change,
                      "from": item.labels[0], "to": item.labels[-1]},
        ))
    return found
