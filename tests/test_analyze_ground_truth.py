"""Ground truth: bpftrace counts known values into maps; the analyzer must give back exactly those numbers.

The program below loops over the same values this test computes in Python, into hist, lhist, stats, avg,
min/max, count and sum maps with multi-part keys (strings with spaces, commas and quotes), and prints
then clears them on successive interval ticks (bpftrace runs print() and clear() asynchronously in user
space, so each round is counted, printed and cleared on separate ticks). It runs on the bpftrace on PATH
and, when the Debian 13 root is mounted here, on its bpftrace 0.23 too, in text and in -f json.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mcptrace_analyzers.analyzers import BpftraceJsonAnalyzer, BpftraceTextAnalyzer
from mcptrace_analyzers.printouts import by_map, summaries
from mcptrace_analyzers.report import build_report

from mcptrace_core.analysis import ParsedMap, ParsedOutput
from tests.conftest import requires_bpftrace

# @big stays below 2G: bpftrace 0.17 counts every value from 2G on in one bucket, which its -f json
# labels {"min": -2147483648, "max": 0} (measured here).
ROUNDS, VALUES = 3, 50
TRIXIE = Path("/var/cache/mcptrace-ci/trixie")
PROGRAM = r"""
interval:ms:150 {
  @tick++;
  $t = (uint64)@tick;
  if ($t % 3 == 1) {
    $r = (int64)($t / 3 + 1);
    $i = (int64)0;
    while ($i < 50) {
      @h = hist($i * $r * 7 - 20);
      @big = hist($i * $r * 10000000);
      @l = lhist($i * $r - 5, 0, 100, 10);
      @c[(uint64)$i % 3, "a b"] = count();
      @s = stats($i * $r);
      @a[(uint64)$i % 2] = avg($i * $r);
      @mx = max($i * $r);
      @mn = min($i * $r - 10);
      @sum["x, y", (uint64)$i % 2] = sum($i * $r);
      @q["say \"hi\""] = count();
      @cum = hist($i);
      $i++;
    }
  }
  if ($t % 3 == 2) {
    print(@h); print(@big); print(@l); print(@c); print(@s); print(@a); print(@mx); print(@mn); print(@sum);
    print(@q); print(@cum);
    clear(@h); clear(@big); clear(@l); clear(@c); clear(@s); clear(@a); clear(@mx); clear(@mn); clear(@sum);
    clear(@q);
  }
  if ($t == 9) { exit(); }
}
"""
CLEARED = ("@h", "@big", "@l", "@c", "@s", "@a", "@mx", "@mn", "@sum", "@q")

Buckets = dict[tuple[float | None, float | None], int]


def hist_bucket(value: int) -> tuple[float | None, float | None]:
    """Where hist() counts a value: below 0, [0], [1], then [2^k, 2^(k+1))."""
    if value < 0:
        return None, 0.0
    if value < 2:
        return float(value), float(value + 1)
    low = 1 << (value.bit_length() - 1)
    return float(low), float(2 * low)


def lhist_bucket(value: int, low: int = 0, high: int = 100, step: int = 10) -> tuple[float | None, float | None]:
    if value < low:
        return None, float(low)
    if value >= high:
        return float(high), None
    start = low + (value - low) // step * step
    return float(start), float(start + step)


def expected(round_: int) -> dict[str, Any]:
    """Every map's printout in round ``round_`` (1-based), computed from the same loop."""
    values = [i * round_ for i in range(VALUES)]
    by_parity = {parity: [v for i, v in enumerate(values) if i % 2 == parity] for parity in (0, 1)}
    return {
        "@h": Counter(hist_bucket(v * 7 - 20) for v in values),
        "@big": Counter(hist_bucket(v * 10_000_000) for v in values),
        "@l": Counter(lhist_bucket(v - 5) for v in values),
        "@c": {f"{k},a b": sum(1 for i in range(VALUES) if i % 3 == k) for k in range(3)},
        "@s": (VALUES, sum(values) // VALUES, sum(values)),
        "@a": {str(parity): sum(items) // len(items) for parity, items in by_parity.items()},
        "@mx": max(values),
        "@mn": min(v - 10 for v in values),
        "@sum": {f"x,y,{parity}": sum(items) for parity, items in by_parity.items()},
        "@q": {'say "hi"': VALUES},
        "@cum": Counter({bounds: count * round_ for bounds, count in Counter(hist_bucket(i) for i in range(VALUES)).items()}),
    }


def normal_key(key: str | None) -> str | None:
    """One spelling of a key across forms: text '0, a b' and JSON '0,a b'; bpftrace 0.23's -f json
    escapes a quote inside a key twice ('say \\"hi\\"'), 0.17 and text do not."""
    return None if key is None else re.sub(r",\s*", ",", key).replace('\\"', '"')


def as_numbers(printed: ParsedMap) -> Any:
    """A printout in the shape ``expected`` uses."""
    entries = {normal_key(key): value for key, value in zip(printed.keys, printed.values)}
    if printed.kind == "hist":
        (buckets,) = entries.values()
        return Counter({(b.low, b.high): b.count for b in buckets if b.count})
    if printed.kind == "stats":
        if printed.name == "@s":
            (value,) = entries.values()
            return (value.count, value.average, value.total)
        return {key: value.average for key, value in entries.items()}  # avg() in -f json
    return entries[None] if list(entries) == [None] else entries


def bpftrace_commands() -> list[Any]:
    trixie_ready = (TRIXIE / "usr/bin/bpftrace").exists() and (TRIXIE / "proc/self").exists()
    return [
        pytest.param(["bpftrace"], id="bpftrace-on-path"),
        pytest.param(
            ["chroot", str(TRIXIE), "bpftrace"],
            id="bpftrace-0.23-trixie",
            marks=pytest.mark.skipif(
                not trixie_ready or os.geteuid() != 0,
                reason=f"the Debian 13 root with bpftrace 0.23 is not mounted at {TRIXIE} (or not root)",
            ),
        ),
    ]


def run(command: list[str], *flags: str) -> str:
    completed = subprocess.run(
        [*command, *flags, "-e", PROGRAM], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.fixture(scope="module", params=bpftrace_commands())
def outputs(request: pytest.FixtureRequest) -> dict[str, tuple[str, ParsedOutput]]:
    text, as_json = run(request.param), run(request.param, "-f", "json")
    return {
        "text": (text, BpftraceTextAnalyzer().parse(text)),
        "json": (as_json, BpftraceJsonAnalyzer().parse(as_json)),
    }


pytestmark = requires_bpftrace


@pytest.mark.parametrize("form", ["text", "json"])
def test_every_printout_holds_exactly_the_values_counted(outputs, form: str) -> None:  # type: ignore[no-untyped-def]
    _, parsed = outputs[form]
    printed = {name: [item[0] for item in items] for name, items in by_map(parsed.snapshots).items()}
    for name in (*CLEARED, "@cum"):
        rounds = [as_numbers(printout) for printout in printed[name][:ROUNDS]]
        assert rounds == [expected(r)[name] for r in range(1, ROUNDS + 1)], name
        # at exit bpftrace prints every map again: the cleared ones hold nothing then
        for extra in printed[name][ROUNDS:]:
            assert name == "@cum" or not extra.keys, (name, extra)
    for name in ("@h", "@big", "@l", "@cum"):  # every value went into exactly one bucket
        for round_, printout in enumerate(printed[name][:ROUNDS], start=1):
            assert sum(b.count for b in printout.values[0]) == VALUES * (round_ if name == "@cum" else 1)
    assert as_numbers(printed["@tick"][-1]) == 3 * ROUNDS


@pytest.mark.parametrize("form", ["text", "json"])
def test_printouts_say_where_they_are_and_whether_they_accumulate(outputs, form: str) -> None:  # type: ignore[no-untyped-def]
    text, parsed = outputs[form]
    lines = text.splitlines()
    found = {item.map: item for item in summaries(parsed.snapshots, {})}
    hist = found["@h"]
    assert hist.printouts == ROUNDS and hist.pattern == "per_interval"
    assert "fell" in hist.reason or "vanished" in hist.reason
    assert hist.total == ROUNDS * VALUES  # per-interval: the whole output is the sum of the printouts
    assert [item.total for item in hist.items] == [VALUES] * ROUNDS
    for item in hist.items:  # the line each printout began on is where the map's name is
        assert item.line is not None
        assert lines[item.line].startswith("@h:") if form == "text" else '{"@h": ' in lines[item.line]
    cumulative = found["@cum"]
    assert cumulative.pattern == "cumulative" and cumulative.total == ROUNDS * VALUES
    assert [item.total for item in cumulative.items][:ROUNDS] == [VALUES * r for r in range(1, ROUNDS + 1)]
    assert found["@c"].pattern == "unchanged" and found["@c"].total is None  # equal rounds: no total claimed


@pytest.mark.parametrize("form", ["text", "json"])
def test_percentiles_are_the_buckets_the_ranks_fall_in(outputs, form: str) -> None:  # type: ignore[no-untyped-def]
    _, parsed = outputs[form]
    for printout in (None, 1, 2):
        report = build_report(parsed, printout=printout)
        round_ = printout or ROUNDS
        dist = next(d for d in report.distributions if d.subject == "@h")
        assert dist.printout == round_ and dist.printouts == ROUNDS and dist.count == VALUES
        ordered = [hist_bucket(v * 7 - 20) for v in sorted(i * round_ for i in range(VALUES))]
        for label, q in (("p50", 0.5), ("p90", 0.9)):
            rank = int(q * VALUES + 0.999999) - 1  # the ceil(q*N)-th value, 0-based
            low, high = ordered[rank]
            given = getattr(dist, label)
            assert (given.low, given.high) == (low, high), (label, round_)
            assert given.estimate is not None
            assert (low is None or low <= given.estimate) and (high is None or given.estimate <= high)
        assert dist.p99 is None and dist.withheld == [f"p99: needs >= 100 samples, has {VALUES}"]
    counts = next(s for s in build_report(parsed).series if s.subject == "@h count")
    assert counts.values == [VALUES] * ROUNDS and not counts.cumulative  # per interval, as printed
    assert counts.withheld == [f"spikes and trends: need >= 5 intervals, has {ROUNDS}"]


@pytest.mark.anyio
async def test_analyze_output_over_mcp_reports_the_printout_asked_for(outputs, client) -> None:  # type: ignore[no-untyped-def]
    text, _ = outputs["text"]
    result = await client.call_tool("analyze_output", {"output": text, "printout": 1, "names": ["@h", "@c"]})
    assert not result.is_error, result.content
    data = result.structured_content
    (dist,) = data["stats"]
    assert dist["subject"] == "@h" and dist["printout"] == 1 and dist["count"] == VALUES
    first = {m["name"]: m for m in data["maps"]}
    buckets = {(b["low"], b["high"]): b["count"] for b in first["@h"]["entries"][0]["buckets"] if b["count"]}
    assert buckets == expected(1)["@h"]
    assert {normal_key(e["key"]): e["value"] for e in first["@c"]["entries"]} == expected(1)["@c"]
    assert {p["map"]: p["pattern"] for p in data["printouts"]} == {"@h": "per_interval", "@c": "unchanged"}
