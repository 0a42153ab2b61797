"""Statistics of one histogram printout and what is unusual in it.

A percentile is the bucket its rank falls in (exact, from the counts) with a value interpolated inside
it (an estimate); each is given only from the samples it needs (``stats.min_samples``), and the
shape of a histogram (two modes, an isolated tail) only from ``MIN_SHAPE_SAMPLES`` on. What was not
given is listed in ``Distribution.withheld`` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from mcptrace_analyzers import stats
from mcptrace_analyzers.keys import subject
from mcptrace_analyzers.units import format_quantity, unit_of
from mcptrace_core.analysis import Anomaly, Bucket, Distribution, ParsedMap, Percentile
from mcptrace_core.models import Severity

MAX_HISTOGRAMS = 20
LONG_TAIL_RATIO = 10
ISOLATED_GAP = 2
ISOLATED_SHARE = 0.05
PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
MIN_SHAPE_SAMPLES = 20
"""Samples a histogram needs before its shape (two modes, an isolated tail) is read into anything."""


def distributions(
    maps: list[ParsedMap], where: dict[str, tuple[int, int]] | None = None
) -> Iterator[tuple[Distribution, list[Bucket]]]:
    """Every histogram (the fullest keys first when a map has many), with its buckets; ``where``
    says which printout of its map each one is (name -> (printout, printouts))."""
    for parsed in maps:
        if parsed.kind != "hist":
            continue
        printout, printouts = (where or {}).get(parsed.name, (1, 1))
        entries = sorted(zip(parsed.keys, parsed.values), key=lambda entry: -sum(b.count for b in entry[1]))
        for key, buckets in entries[:MAX_HISTOGRAMS]:
            dist = distribution(subject(parsed.name, key), unit_of(parsed.name), buckets)
            yield dist.model_copy(update={"printout": printout, "printouts": printouts, "line": parsed.line}), buckets


def percentiles(buckets: list[Bucket], count: int) -> tuple[dict[str, Percentile | None], list[str]]:
    """p50/p90/p99 as the buckets they fall in, each only from the samples it needs (else withheld)."""
    found: dict[str, Percentile | None] = {}
    withheld = []
    for label, q in PERCENTILES:
        need = stats.min_samples(q)
        located = stats.percentile_bucket(buckets, q) if count >= need else None
        if located is None:
            found[label] = None
            withheld.append(f"{label}: needs >= {need} samples, has {count}")
            continue
        bucket, estimate = located
        found[label] = Percentile(
            bucket=stats.bucket_label(bucket), low=bucket.low, high=bucket.high, estimate=estimate
        )
    return found, withheld


def distribution(name: str, unit: str | None, buckets: list[Bucket]) -> Distribution:
    filled = [bucket for bucket in buckets if bucket.count]
    counts = [bucket.count for bucket in buckets]
    count = sum(counts)
    quantiles, withheld = percentiles(buckets, count)
    modes = stats.bimodal(counts) if count >= MIN_SHAPE_SAMPLES else None
    if 0 < count < MIN_SHAPE_SAMPLES:
        withheld.append(f"modes and outliers: need >= {MIN_SHAPE_SAMPLES} samples, has {count}")
    fullest = max(buckets, key=lambda bucket: bucket.count) if filled else None
    return Distribution(
        subject=name,
        unit=unit,
        count=count,
        min=(filled[0].low if filled[0].low is not None else filled[0].high) if filled else None,
        max=(filled[-1].high if filled[-1].high is not None else filled[-1].low) if filled else None,
        mean=stats.mean(buckets),
        p50=quantiles["p50"],
        p90=quantiles["p90"],
        p99=quantiles["p99"],
        withheld=withheld,
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
    p50 = dist.p50.estimate if dist.p50 else None
    p99 = dist.p99.estimate if dist.p99 else None  # given from 100 samples on
    if p50 and p99 and p99 / p50 >= LONG_TAIL_RATIO:
        assert dist.p50 is not None and dist.p99 is not None
        found.append(
            Anomaly(
                kind="long_tail",
                severity=Severity.medium,
                subject=name,
                message=f"{name}: p99 in {dist.p99.bucket} (~{format_quantity(p99, unit)}) is about "
                f"{p99 / p50:.0f}x the median in {dist.p50.bucket} (~{format_quantity(p50, unit)}; estimates "
                f"inside buckets, n={dist.count})",
                evidence={
                    "p50_bucket": dist.p50.bucket,
                    "p99_bucket": dist.p99.bucket,
                    "p50_estimate": p50,
                    "p99_estimate": p99,
                    "ratio": round(p99 / p50, 1),
                    "samples": dist.count,
                },
            )
        )
    isolated = _isolated_tail(buckets) if dist.count >= MIN_SHAPE_SAMPLES else []
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
