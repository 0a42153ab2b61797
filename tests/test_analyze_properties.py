"""Properties: percentiles are monotone, bucket counts survive printing and parsing, no input crashes."""

from __future__ import annotations

import json
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from mcptrace_analyzers.analyzers import builtin_analyzers
from mcptrace_analyzers.bpftrace_json import maps_from_event
from mcptrace_analyzers.report import build_report, summary_text
from mcptrace_analyzers.stats import percentile
from mcptrace_analyzers.textparse import TextParser
from mcptrace_bpftrace.jsonout import render_map

from mcptrace_core.analysis import Bucket

PROPERTY = settings(max_examples=150, deadline=None)
counts = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40)


@st.composite
def power_of_two_buckets(draw: st.DrawFn) -> list[Bucket]:
    """A hist(): optional underflow, [0], [1], then [2^k, 2^k+1) buckets."""
    values = draw(counts)
    bounds = [(0.0, 1.0), (1.0, 2.0)] + [(float(1 << k), float(2 << k)) for k in range(1, 62)]
    buckets = [Bucket(low, high, count) for (low, high), count in zip(bounds, values)]
    if draw(st.booleans()):
        buckets.insert(0, Bucket(None, 0.0, draw(st.integers(min_value=0, max_value=1000))))
    return buckets


@st.composite
def linear_buckets(draw: st.DrawFn) -> list[Bucket]:
    """An lhist(min, max, step) with its underflow and overflow buckets."""
    low, step = draw(st.integers(-1000, 1000)), draw(st.integers(1, 5000))
    values = draw(counts)
    middle = [Bucket(float(low + i * step), float(low + (i + 1) * step), c) for i, c in enumerate(values)]
    end = low + len(values) * step
    return [
        Bucket(None, float(low), draw(st.integers(0, 99))),
        *middle,
        Bucket(float(end), None, draw(st.integers(0, 99))),
    ]


@PROPERTY
@given(
    st.one_of(power_of_two_buckets(), linear_buckets()), st.lists(st.floats(0, 1), min_size=2, max_size=10)
)
def test_percentiles_are_monotone_and_inside_the_filled_range(buckets: list[Bucket], qs: list[float]) -> None:
    estimates = [percentile(buckets, q) for q in sorted(qs)]
    if not any(bucket.count for bucket in buckets):
        assert estimates == [None] * len(qs)
        return
    assert all(a <= b for a, b in pairwise(estimates))  # type: ignore[operator]
    filled = [bucket for bucket in buckets if bucket.count]
    lowest = filled[0].low if filled[0].low is not None else filled[0].high
    highest = filled[-1].high if filled[-1].high is not None else filled[-1].low
    assert all(lowest <= estimate <= highest for estimate in estimates)  # type: ignore[operator]


def _hist_event(name: str, keyed: dict[str, list[Bucket]]) -> dict:
    """The -f json shape of a hist map, as bpftrace prints it (max inclusive, open ends omitted)."""

    def bucket(b: Bucket) -> dict:
        item: dict = {"count": b.count}
        if b.low is not None:
            item["min"] = int(b.low)
        if b.high is not None:
            item["max"] = int(b.high) - 1
        return item

    return {name: {key: [bucket(b) for b in buckets] for key, buckets in keyed.items()}}


keys = st.text(
    # No backslash: bpftrace 0.23 writes the line breaks of stack keys as a literal backslash-n in -f json,
    # which the decoder turns back into lines; a key that itself spells "\\n" cannot be told from one.
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="]\\"), min_size=1, max_size=12
)


@PROPERTY
@given(st.dictionaries(keys, st.one_of(power_of_two_buckets(), linear_buckets()), min_size=1, max_size=5))
def test_bucket_counts_survive_json_to_text_and_back(keyed: dict[str, list[Bucket]]) -> None:
    (trace_map,) = maps_from_event("hist", _hist_event("@lat_us", keyed))
    parsed = TextParser("bpftrace").parse("\n".join(render_map(trace_map)))
    (hist,) = parsed.maps
    assert dict(zip(hist.keys, hist.values)) == keyed


@PROPERTY
@given(st.dictionaries(keys, st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_map_values_survive_json_to_text_and_back(values: dict[str, int]) -> None:
    (trace_map,) = maps_from_event("map", {"@calls": values})
    (parsed,) = TextParser("bpftrace").parse("\n".join(render_map(trace_map))).maps
    assert dict(zip(parsed.keys, parsed.values)) == values


@PROPERTY
@given(counts)
def test_bcc_histogram_counts_are_conserved(values: list[int]) -> None:
    rows = [
        f"{1 << k if k else 0:>10} -> {(2 << k) - 1:<10}: {count:<8} |{'*' * (count % 40):<40}|"
        for k, count in enumerate(values)
    ]
    parsed = TextParser("bcc").parse(
        "\n".join(["Tracing...", "", "     usecs               : count    distribution", *rows])
    )
    (hist,) = parsed.maps
    assert [b.count for b in hist.values[0]] == values
    assert build_report(parsed).distributions[0].count == sum(values)


FRAGMENTS = [
    "@x: ",
    "@x: 5",
    "@x[a, b]: 7",
    "@s: count 3, average 2, total 6",
    "@t: (1, two)",
    "@st[",
    "    f+1",
    "]: 4",
    "]: ",
    "[1]   3 |@@@|",
    "[2, 4)  5 |@@|",
    "(..., 0)  1 |@|",
    "[100, ...)  2 |@|",
    "[1K, 2K)  9 |@|",
    "     usecs               : count    distribution",
    "   0 -> 1   : 5  |**|",
    "  2 -> 3 : x |",
    "pid = 5 sh",
    "Lost 3 events",
    "Attaching 2 probes...",
    "12:00:01",
    "[12:00:02]",
    "12:00:03 rate: @: 4",
    "PID COMM LAT(ms)",
    "1 sh 2.5",
    "2 bash",
    "stdin:1:2-3: WARNING: Failed to map_update_elem: E2BIG (-7)",
    "  ~~~",
    "",
    "@",
    "[",
    "(",
    '{"type": "map", "data": {"@m": {"k": 1}}}',
    '{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": 2}]}}',
    '{"type": "printf", "data": "a b\\n"}',
    '{"type": "stats", "data": {"@s": 3}}',
    '{"type": "helper_error"}',
    '{"type": "lost_events", "data": {"events": 2}}',
    '{"type": "time", "data": "12:00:00\\n"}',
    "{",
    '{"type": 1}',
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=60))
def test_no_input_crashes_any_analyzer(lines: list[str]) -> None:
    text = "\n".join(lines)
    for analyzer in builtin_analyzers():
        assert 0.0 <= analyzer.detect(text) <= 1.0
        parsed = analyzer.parse(text)
        summary_text(parsed, build_report(parsed))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
        ),
        max_size=10,
    ),
    st.lists(
        st.sampled_from(["map", "hist", "stats", "printf", "time", "value", "lost_events", "helper_error"]),
        min_size=10,
        max_size=10,
    ),
)
def test_no_json_shape_crashes_the_json_analyzer(payloads: list, kinds: list[str]) -> None:
    text = "\n".join(json.dumps({"type": kind, "data": payload}) for kind, payload in zip(kinds, payloads))
    parsed = builtin_analyzers()[1].parse(text)
    build_report(parsed)
