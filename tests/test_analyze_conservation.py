"""Conservation: every histogram printout the analyzer reads holds exactly the counts its rows print.

The host's bpftrace package ships sample outputs (read here at run time, nothing copied); generated
texts made of bpftrace printouts in any order (with time stamps, printf lines and blank lines between)
must parse without an exception and keep every entry and every bucket count, in order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcptrace_analyzers.analyzers import BpftraceTextAnalyzer, builtin_analyzers
from mcptrace_analyzers.printouts import summaries
from mcptrace_analyzers.report import build_report, summary_text

from mcptrace_core.analysis import ParsedOutput

EXAMPLES = Path("/usr/share/doc/bpftrace/examples")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*_example.txt")) if EXAMPLES.is_dir() else []
HIST_HEAD = re.compile(r"(@\w*)(?:\[(.*)\])?:\s*\Z")
BUCKET = re.compile(r"[\[(][^|]*[\])]\s+(\d+)\s+\|")

Entry = tuple[str, str | None, int]


def printed_histograms(text: str) -> list[Entry]:
    """(map, key, sum of its rows) of every histogram printed, in order: read here with no help from
    the parser (a '@name[key]:' line, then bucket rows)."""
    found: list[Entry] = []
    current: tuple[str, str | None] | None = None
    stack: tuple[str, list[str]] | None = None  # '@name[' then frames, then ']: '
    for line in text.splitlines():
        if stack is not None:
            if not line.startswith("]"):
                stack[1].append(line.rstrip())
                continue
            line = f"{stack[0]}[\n" + "\n".join(stack[1]) + "\n]" + line[1:]
            stack = None
            head = re.match(r"(@\w*)\[(.*)\]:\s*\Z", line, re.DOTALL)
        elif re.match(r"@\w*\[\Z", line):
            stack, current = (line[:-1], []), None
            continue
        else:
            head = HIST_HEAD.match(line)
        row = BUCKET.match(line) if current is not None else None
        if head:
            current = (head.group(1), head.group(2))
            found.append((*current, -1))
        elif row and current is not None:
            name, key, total = found[-1]
            found[-1] = (name, key, max(total, 0) + int(row.group(1)))
        else:
            current = None
    return [entry for entry in found if entry[2] >= 0]


def parsed_histograms(parsed: ParsedOutput) -> list[Entry]:
    return [
        (printout.name, key, sum(bucket.count for bucket in buckets))
        for snapshot in parsed.snapshots
        for printout in snapshot.maps
        if printout.kind == "hist"
        for key, buckets in zip(printout.keys, printout.values)
    ]


@pytest.mark.skipif(not EXAMPLE_FILES, reason=f"the bpftrace package's example outputs are not in {EXAMPLES}")
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_every_histogram_printout_of_the_shipped_examples_is_conserved(path: Path) -> None:
    text = path.read_text(errors="replace")
    parsed = BpftraceTextAnalyzer().parse(text)
    assert parsed_histograms(parsed) == printed_histograms(text)
    report = build_report(parsed)
    for dist in report.distributions:  # the latest printout is the one reported, with its position
        assert 1 <= dist.printout == dist.printouts and dist.line is not None
        assert text.splitlines()[dist.line].startswith(dist.subject.split("[")[0])
        assert (dist.p99 is None) == (dist.count < 100) and (dist.p90 is None) == (dist.count < 10)


@pytest.mark.skipif(not EXAMPLE_FILES, reason=f"the bpftrace package's example outputs are not in {EXAMPLES}")
@pytest.mark.parametrize("name", ["runqlat", "cpuwalk"])
def test_several_runs_of_one_map_are_all_kept(name: str) -> None:
    """These examples paste several runs of the same tool: each run's histogram is its own printout."""
    text = (EXAMPLES / f"{name}_example.txt").read_text()
    parsed = BpftraceTextAnalyzer().parse(text)
    heads = [line.split(":")[0] for line in text.splitlines() if HIST_HEAD.match(line)]
    (item,) = [p for p in summaries(parsed.snapshots, {}) if p.kind == "hist"]
    assert item.printouts == len(heads) >= 2
    assert [p.total for p in item.items] == [total for *_, total in printed_histograms(text)]


# -- property: printouts in any order -------------------------------------------------------------

NAMES = st.sampled_from(["@a", "@lat_us", "@bytes", "@", "@x_1"])
KEYS = st.one_of(
    st.none(),
    st.text(st.sampled_from("abz09 ,_-\"'"), min_size=1, max_size=10).filter(lambda k: k.strip() == k and "]" not in k),
    st.lists(st.sampled_from(["f+1", "g+22", "0xffff1", "do_sys_open+5"]), min_size=1, max_size=4).map(
        lambda frames: "\n" + "\n".join(f"        {frame}" for frame in frames) + "\n"
    ),
)
SUFFIXED = [(0, 1), (1, 2)] + [(1 << k, 2 << k) for k in range(1, 40)]


def _size(value: int) -> str:
    for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value and value % scale == 0:
            return f"{value // scale}{suffix}"
    return str(value)


@st.composite
def histogram_rows(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Rows of a hist() (power-of-two, K/M/G labels) or an lhist() (negative bounds too), with an
    optional underflow and overflow bucket."""
    counts = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
    if draw(st.booleans()):
        start = draw(st.integers(0, 20))
        spans = SUFFIXED[start : start + len(counts)]
        labels = [f"[{_size(low)}]" if high - low == 1 else f"[{_size(low)}, {_size(high)})" for low, high in spans]
        top = spans[-1][1] if spans else 0
    else:
        low, step = draw(st.integers(-500, 500)), draw(st.integers(1, 100))
        labels = [f"[{low + i * step}, {low + (i + 1) * step})" for i in range(len(counts))]
        top = low + len(counts) * step
        if draw(st.booleans()):
            labels.insert(0, f"(..., {low})")
            counts.insert(0, draw(st.integers(0, 99)))
    labels, counts = labels[: len(counts)], counts[: len(labels)]
    if draw(st.booleans()):
        labels.append(f"[{_size(top)}, ...)")
        counts.append(draw(st.integers(0, 99)))
    return list(zip(labels, counts))


def _label(name: str, key: str | None) -> str:
    return name if key is None else f"{name}[{key}]"


@st.composite
def printout(draw: st.DrawFn) -> tuple[list[str], list[Entry]]:
    """One printout (a histogram map, a count map, a stats map) or a line between printouts."""
    kind = draw(st.sampled_from(["hist", "hist", "count", "stats", "time", "printf", "blank"]))
    name = draw(NAMES)
    if kind == "time":
        return [draw(st.sampled_from(["12:00:01", "[08:15:59]", "23:59:59.5"]))], []
    if kind == "printf":
        return [draw(st.sampled_from(["hello world", "pid 42 opened /tmp/x", "Tracing... Hit Ctrl-C"]))], []
    if kind == "blank":
        return [""], []
    keys = draw(st.lists(KEYS, min_size=1, max_size=3, unique=True))
    if None in keys:
        keys = [None]
    lines: list[str] = []
    entries: list[Entry] = []
    for key in keys:
        if kind == "hist":
            rows = draw(histogram_rows())
            lines.append(f"{_label(name, key)}: ")
            lines.extend(f"{label:<16}{count:>8} |{'@' * (count % 7):<52}|" for label, count in rows)
            lines.append("")
            entries.append((name, key, sum(count for _, count in rows)))
        elif kind == "count":
            lines.append(f"{_label(name, key)}: {draw(st.integers(-(2**63), 2**63 - 1))}")
        else:
            count = draw(st.integers(0, 10**6))
            lines.append(f"{_label(name, key)}: count {count}, average {count // 3}, total {count * 2}")
    return lines, entries


@settings(max_examples=200, deadline=None)
@given(st.lists(printout(), max_size=25))
def test_printouts_in_any_order_parse_and_keep_every_bucket_count(parts: list[tuple[list[str], list[Entry]]]) -> None:
    text = "\n".join(line for lines, _ in parts for line in lines)
    wanted = [entry for _, entries in parts for entry in entries]
    for analyzer in builtin_analyzers():
        parsed = analyzer.parse(text)
        summary_text(parsed, build_report(parsed))
        summaries(parsed.snapshots, {})
    parsed = BpftraceTextAnalyzer().parse(text)
    assert parsed_histograms(parsed) == wanted
    assert sum(entry[2] for entry in parsed_histograms(parsed)) == sum(entry[2] for entry in wanted)


@st.composite
def json_event(draw: st.DrawFn) -> tuple[dict, list[Entry]]:
    """One -f json event as bpftrace prints it: a hist/lhist map (max inclusive, open ends left out), a
    count map, a stats map, or a printf/time event between printouts."""
    kind = draw(st.sampled_from(["hist", "hist", "map", "stats", "printf", "time"]))
    name = draw(NAMES)
    if kind == "printf":
        return {"type": "printf", "data": "pid 42 opened /tmp/x\n"}, []
    if kind == "time":
        return {"type": "time", "data": draw(st.sampled_from(["12:00:01\n", "23:59:59\n"]))}, []
    keys = draw(st.lists(st.text(st.sampled_from("ab09 ,\"'\\"), min_size=1, max_size=8), max_size=3, unique=True))
    if kind == "hist":
        values: dict = {}
        entries: list[Entry] = []
        for key in keys or [None]:
            low, step = draw(st.integers(-50, 50)), draw(st.integers(1, 9))
            counts = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
            buckets = [{"min": low + i * step, "max": low + (i + 1) * step - 1, "count": c} for i, c in enumerate(counts)]
            if draw(st.booleans()):
                buckets.insert(0, {"max": low - 1, "count": draw(st.integers(0, 9))})
                buckets.append({"min": low + len(counts) * step, "count": draw(st.integers(0, 9))})
            values[key] = buckets
            entries.append((name, key, sum(bucket["count"] for bucket in buckets)))
        data = values[None] if keys == [] else values
        return {"type": "hist", "data": {name: data}}, entries
    if kind == "map":
        data = {key: draw(st.integers(-(2**63), 2**63 - 1)) for key in keys} if keys else 7
        return {"type": "map", "data": {name: data}}, []
    stats = {"count": 3, "average": 2, "total": 6}
    return {"type": "stats", "data": {name: {key: stats for key in keys} if keys else stats}}, []


@settings(max_examples=200, deadline=None)
@given(st.lists(json_event(), max_size=25))
def test_json_printouts_in_any_order_are_each_one_printout(events: list[tuple[dict, list[Entry]]]) -> None:
    text = "\n".join(json.dumps(event) for event, _ in events)
    parsed = builtin_analyzers()[1].parse(text)
    assert parsed_histograms(parsed) == [entry for _, entries in events for entry in entries]
    printed = {item.map: item.printouts for item in summaries(parsed.snapshots, {})}
    wanted: dict[str, int] = {}
    for event, _ in events:
        if event["type"] in ("hist", "map", "stats"):
            (name,) = event["data"]
            wanted[name] = wanted.get(name, 0) + 1
    assert printed == wanted
    summary_text(parsed, build_report(parsed))


def test_what_ends_a_printout_in_text() -> None:
    """A blank line ends a printout of counts (bpftrace puts one after each map at exit) but not one of
    a keyed histogram (bpftrace puts one between its keys); printf text ends either; with nothing at
    all between them, two printouts are told apart only by a key that repeats."""
    lines = [
        "@c[a]: 1", "@c[b]: 2", "",  # printout 1
        "@c[c]: 3", "some printf line",  # printout 2
        "@c[d]: 4", "@c[d]: 5",  # printout 3, then a repeated key starts printout 4
        "@h[x]: ", "[1]  1 |@|", "", "@h[y]: ", "[2, 4)  2 |@|", "",  # one printout, two keys
    ]
    text = "\n".join(lines)
    parsed = BpftraceTextAnalyzer().parse(text)
    found = {item.map: item for item in summaries(parsed.snapshots, {})}
    assert [item.keys for item in found["@c"].items] == [2, 1, 1, 1]
    assert [item.line for item in found["@c"].items] == [0, 3, 5, 6]
    assert found["@h"].printouts == 1 and found["@h"].items[0].total == 3
