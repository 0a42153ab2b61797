"""Statistics of histograms, series and columns: pure functions over plain numbers.

A histogram percentile is the bucket that holds the rank, which the counts give exactly; the value
inside it is estimated by linear interpolation (bpftrace keeps only bucket counts, so that is the
best unbiased guess); an open-ended bucket gives its finite bound, and a one-value bucket ('[1]')
its value. A quantile q is only given from 1/(1-q) samples on (``min_samples``). The mean uses bucket midpoints. Spikes use the robust z-score (median and MAD),
which one huge outlier cannot hide behind, unlike the mean and standard deviation.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcptrace_core.analysis import Bucket

MAD_SCALE = 1.4826  # makes the MAD estimate the standard deviation of normal data
SPIKE_Z = 3.5
LARGE = 50_000  # above this many values, numpy is faster than sorting in Python


def bucket_label(bucket: Bucket) -> str:
    """The bucket as bpftrace prints it: '[1K, 2K)', '(..., 0)', '[100, ...)', '[5]'."""
    low = "..." if bucket.low is None else _size(bucket.low)
    high = "..." if bucket.high is None else _size(bucket.high)
    if bucket.low is not None and bucket.high is not None and bucket.high - bucket.low == 1:
        return f"[{low}]"
    return f"({low}, {high})" if bucket.low is None else f"[{low}, {high})"


def _size(value: float) -> str:
    number = int(value)
    for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if number and number % scale == 0:
            return f"{number // scale}{suffix}"
    return str(number)


def min_samples(q: float) -> int:
    """Samples a q-quantile needs to mean something: 1/(1-q), so that at least one sample lies at or
    above it (p50: 2, p90: 10, p99: 100). Below that the 'p99' of a handful is just their maximum."""
    return round(1 / (1 - q))


def percentile(buckets: Sequence[Bucket], q: float) -> float | None:
    """The q-quantile (0..1), interpolated linearly inside the bucket that holds rank q*N: an estimate."""
    found = percentile_bucket(buckets, q)
    return None if found is None else found[1]


def percentile_bucket(buckets: Sequence[Bucket], q: float) -> tuple[Bucket, float | None] | None:
    """The bucket that holds rank q*N (known exactly from the counts) and a value interpolated in it
    (an estimate); None for an empty histogram."""
    total = sum(bucket.count for bucket in buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in buckets:
        if bucket.count == 0:
            continue
        if seen + bucket.count >= rank:
            return bucket, _inside(bucket, max(0.0, rank - seen))
        seen += bucket.count
    last = next(bucket for bucket in reversed(buckets) if bucket.count)
    return last, last.high if last.high is not None else last.low


def _inside(bucket: Bucket, rank: float) -> float | None:
    if bucket.low is None or bucket.high is None:
        return bucket.high if bucket.low is None else bucket.low
    if bucket.high - bucket.low == 1:  # an integer bucket such as '[1]' holds one value
        return bucket.low
    return bucket.low + (bucket.high - bucket.low) * rank / bucket.count


def mean(buckets: Sequence[Bucket]) -> float | None:
    """Mean from bucket midpoints; an open bucket counts at its finite bound."""
    total = sum(bucket.count for bucket in buckets)
    if total == 0:
        return None
    weighted = 0.0
    for bucket in buckets:
        if bucket.count:
            low, high = bucket.low, bucket.high
            middle = high if low is None else low if high is None else (low + high) / 2
            weighted += (middle or 0.0) * bucket.count
    return weighted / total


@dataclass(frozen=True)
class Modes:
    """Two peaks of a histogram and the emptiest bucket between them."""

    first: int
    second: int
    valley: int


def bimodal(counts: Sequence[int]) -> Modes | None:
    """Two separated peaks: the second holds >= 5% of all values and >= 10% of the first peak, and
    the valley between them falls to at most half of the smaller peak."""
    total = sum(counts)
    if total < 10:
        return None
    peaks = [
        index
        for index, count in enumerate(counts)
        if count
        and (index == 0 or count >= counts[index - 1])
        and (index == len(counts) - 1 or count > counts[index + 1])
    ]
    if len(peaks) < 2:
        return None
    top = max(peaks, key=lambda index: counts[index])
    for other in sorted(peaks, key=lambda index: -counts[index]):
        if other == top or counts[other] < max(0.05 * total, 0.1 * counts[top]):
            continue
        low, high = sorted((top, other))
        valley = min(range(low + 1, high), key=lambda index: counts[index], default=None)
        if valley is not None and counts[valley] <= 0.5 * counts[other]:
            return Modes(low, high, valley)
    return None


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def robust_z(values: Sequence[float]) -> list[float]:
    """|x - median| / (1.4826 * MAD) for each value; the mean absolute deviation stands in when
    more than half the values are equal (MAD 0); all zeros when the values do not vary."""
    center = median(values)
    deviations = [abs(value - center) for value in values]
    scale = MAD_SCALE * median(deviations)
    if scale == 0:
        scale = 1.2533 * sum(deviations) / len(deviations)
    if scale == 0:
        return [0.0] * len(values)
    return [(value - center) / scale for value in values]


def linear_trend(values: Sequence[float]) -> tuple[float, float]:
    """(fitted change over the series relative to its mean, r squared) of a least-squares line."""
    count = len(values)
    if count < 3:
        return 0.0, 0.0
    xs = range(count)
    x_mean, y_mean = (count - 1) / 2, sum(values) / count
    sxx = sum((x - x_mean) ** 2 for x in xs)
    sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, values))
    syy = sum((y - y_mean) ** 2 for y in values)
    if syy == 0 or y_mean == 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return slope * (count - 1) / abs(y_mean), (sxy * sxy) / (sxx * syy)


def describe(values: Sequence[float | None]) -> tuple[int, float, float, float, float, float, float] | None:
    """(count, min, p50, p90, p99, max, mean) of raw values, None values left out; None when there are
    none. Quantiles are exact, linear between order statistics; numpy does large inputs."""
    if len(values) > LARGE:
        import numpy

        array = numpy.asarray(values, dtype=float)  # None becomes nan
        array = array[~numpy.isnan(array)]
        if not len(array):
            return None
        p50, p90, p99 = (float(q) for q in numpy.quantile(array, (0.5, 0.9, 0.99)))
        return len(array), float(array.min()), p50, p90, p99, float(array.max()), float(array.mean())
    ordered = sorted(value for value in values if value is not None)
    if not ordered:
        return None
    last = len(ordered) - 1

    def quantile(q: float) -> float:
        position = q * last
        low = math.floor(position)
        high = min(low + 1, last)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return (
        len(ordered),
        ordered[0],
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
        ordered[-1],
        sum(ordered) / len(ordered),
    )


def largest(values: Sequence[float | None], count: int) -> list[int]:
    """Indices of the ``count`` largest values, largest first (None values never count)."""
    if len(values) > LARGE:
        import numpy

        array = numpy.nan_to_num(numpy.asarray(values, dtype=float), nan=-numpy.inf)
        count = min(count, len(array))
        picked = numpy.argpartition(array, len(array) - count)[len(array) - count :]
        return [int(index) for index in picked[numpy.argsort(-array[picked], kind="stable")]]
    present = (index for index, value in enumerate(values) if value is not None)
    return heapq.nlargest(count, present, key=values.__getitem__)  # type: ignore[arg-type]


def value_counts(values: Sequence[Any], numeric: bool, top: int) -> tuple[int, int, list[tuple[Any, int]]]:
    """(values counted, distinct values, the ``top`` commonest with their counts); None is not counted.
    Large numeric columns (process ids, error codes) are counted by numpy, 20x faster than a Counter."""
    if numeric and len(values) > LARGE:
        import numpy

        array = numpy.asarray(values, dtype=float)
        array = array[~numpy.isnan(array)]
        distinct, counts = numpy.unique(array, return_counts=True)
        order = numpy.argsort(-counts, kind="stable")[:top]
        common = [(_plain_number(float(distinct[i])), int(counts[i])) for i in order]
        return len(array), len(distinct), common
    counts = Counter(values)
    counts.pop(None, None)
    return sum(counts.values()), len(counts), counts.most_common(top)


def _plain_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value
