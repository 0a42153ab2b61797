"""Which host is the outlier: each map reduced to one number per host, compared with the others.

A count or sum map gives its total, min/max maps their extreme, a histogram its mean (bucket
midpoints, weighted) and a stats map its overall average. A host is an outlier when its number is
far from the hosts' median by the median absolute deviation (robust z over 3.5), or, when most hosts
agree exactly (MAD 0), when it differs from the median by more than half. Failed hosts are named too.
"""

from __future__ import annotations

import statistics

from pydantic import Field

from mcptrace_core.models import Model, TraceMap

ROBUST_Z = 3.5
MAD_SCALE = 1.4826


class HostOutlier(Model):
    host: str
    value: float
    ratio_to_median: float | None = Field(description="value / median of all hosts; None when the median is 0.")


class MapComparison(Model):
    map: str
    metric: str = Field(description="What was compared per host: total, min, max, mean (histograms), average.")
    values: dict[str, float] = Field(description="Host -> the metric.")
    median: float
    outliers: list[HostOutlier]


class FleetComparison(Model):
    maps: list[MapComparison]
    failed_hosts: dict[str, str] = Field(description="Hosts that did not run, and why.")
    summary: str


def metric(trace_map: TraceMap, function: str) -> tuple[str, float] | None:
    if trace_map.kind == "hist":
        weight = total = 0.0
        for entry in trace_map.entries:
            for bucket in entry.buckets or ():
                low = bucket.low if bucket.low is not None else (bucket.high or 0)
                high = bucket.high if bucket.high is not None else low
                weight += bucket.count
                total += bucket.count * (low + high) / 2
        return ("mean", total / weight) if weight else None
    if trace_map.kind == "stats":
        count = sum(e.stats.count or 0 for e in trace_map.entries if e.stats)
        total = sum(e.stats.total or 0 for e in trace_map.entries if e.stats)
        return ("average", total / count) if count else None
    numbers = [float(e.value) for e in trace_map.entries if isinstance(e.value, int | float)]
    if not numbers:
        return None
    if function == "min":
        return "min", min(numbers)
    if function == "max":
        return "max", max(numbers)
    return "total", sum(numbers)


def compare_hosts(per_host: dict[str, dict[str, TraceMap]], functions: dict[str, str],
                  failed: dict[str, str]) -> FleetComparison:
    names = sorted({name for maps in per_host.values() for name in maps})
    comparisons = []
    for name in names:
        values: dict[str, float] = {}
        label = "total"
        for host, maps in per_host.items():
            if name in maps and (measured := metric(maps[name], functions.get(name, "value"))) is not None:
                label, values[host] = measured
        if len(values) < 2:
            continue
        median = statistics.median(values.values())
        mad = statistics.median(abs(v - median) for v in values.values())
        outliers = []
        for host, value in values.items():
            if mad > 0:
                far = abs(value - median) / (MAD_SCALE * mad) > ROBUST_Z
            else:
                far = abs(value - median) > 0.5 * abs(median) if median else value != 0
            if far:
                outliers.append(HostOutlier(host=host, value=value,
                                            ratio_to_median=round(value / median, 3) if median else None))
        comparisons.append(MapComparison(map=name, metric=label, values=values, median=median,
                                         outliers=sorted(outliers, key=lambda o: -abs(o.value - median))))
    lines = []
    for comparison in comparisons:
        if comparison.outliers:
            named = ", ".join(
                f"{o.host} ({o.value:g}" + (f", {o.ratio_to_median:g}x the median)" if o.ratio_to_median else ")")
                for o in comparison.outliers)
            lines.append(f"{comparison.map} ({comparison.metric}, median {comparison.median:g}): outliers {named}")
    if failed:
        lines.append("failed hosts: " + ", ".join(sorted(failed)))
    if not lines:
        lines.append(f"no outlier among {len(per_host)} hosts")
    return FleetComparison(maps=comparisons, failed_hosts=failed, summary="\n".join(lines))
