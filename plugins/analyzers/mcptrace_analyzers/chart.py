"""Draw histograms and time series as one PNG, for a person or a client that shows images.

matplotlib (Agg backend, no display needed) is imported here, on the first chart, never at server
start: it costs about a second to import.
"""

from __future__ import annotations

import io

from mcptrace_analyzers import stats
from mcptrace_core.analysis import Bucket, Series

MAX_PANELS = 4
MAX_LINES = 5


def render_png(histograms: dict[str, tuple[list[Bucket], str]], series: list[Series]) -> bytes | None:
    """A PNG with one panel per histogram (the first four; name -> buckets and a caption such as
    'n=883, p50 2.1 ms, p99 146 ms') and one for the series; None if there is nothing to draw."""
    panels = list(histograms.items())[: MAX_PANELS - (1 if series else 0)]
    if not panels and not series:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    count = len(panels) + (1 if series else 0)
    figure = Figure(figsize=(9, 3.2 * count), dpi=96, layout="constrained")
    axes = figure.subplots(count, 1, squeeze=False)[:, 0]
    for axis, (name, (buckets, caption)) in zip(axes, panels):
        _histogram(axis, name, buckets, caption)
    if series:
        _series(axes[-1], series[:MAX_LINES])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _histogram(axis, name: str, buckets: list[Bucket], caption: str) -> None:  # type: ignore[no-untyped-def]
    filled = [index for index, bucket in enumerate(buckets) if bucket.count]
    shown = buckets[filled[0] : filled[-1] + 1] if filled else buckets
    positions = range(len(shown))
    axis.bar(positions, [bucket.count for bucket in shown], color="#3b6ea8")
    axis.set_xticks(
        list(positions), [stats.bucket_label(bucket) for bucket in shown], rotation=45, ha="right", fontsize=8
    )
    axis.set_title(f"{name}: {caption}", fontsize=10)
    axis.set_ylabel("count")


def _series(axis, series: list[Series]) -> None:  # type: ignore[no-untyped-def]
    labels = series[0].labels
    for item in series:
        axis.plot(range(len(item.values)), item.values, marker="o", markersize=3, label=item.subject[:50])
    step = max(1, len(labels) // 12)
    axis.set_xticks(list(range(0, len(labels), step)), labels[::step], rotation=45, ha="right", fontsize=8)
    axis.set_title("per interval", fontsize=10)
    axis.legend(fontsize=7)
