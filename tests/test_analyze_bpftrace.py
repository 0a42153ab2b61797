"""bpftrace output, captured by running bpftrace here, parsed in both its text and -f json forms."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mcptrace_analyzers.analyzers import BpftraceJsonAnalyzer, BpftraceTextAnalyzer
from mcptrace_analyzers.report import build_report

from mcptrace_core.analysis import ParsedOutput
from tests.conftest import requires_bpftrace

pytestmark = requires_bpftrace

# Deterministic: every number below follows from the loop, so text and JSON runs must agree exactly.
DETERMINISTIC = r"""
BEGIN {
  printf("%-6s %-8s %s\n", "ID", "LAT_US", "NAME");
  $i = (uint64)0;
  while ($i < 200) {
    @lat_us = hist($i);
    @lin = lhist((int64)$i - 100, 0, 50, 10);
    @calls[$i % 7, "k"] = count();
    @bytes[$i % 5] = sum($i);
    @s = stats($i);
    @a[$i % 2] = avg($i);
    @mx = max($i);
    @mn = min($i);
    if ($i % 20 == 0) { printf("%-6d %-8d name%d\n", $i, $i * 3, $i % 4); }
    $i++;
  }
  @tup = (1, "two", 3);
  @str = "hello";
  exit();
}
"""


def bpftrace(program: str, *flags: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run bpftrace as the tests' subject; its stdout is the output under test."""
    completed = subprocess.run(
        ["bpftrace", *flags, "-e", program],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def by_name(parsed: ParsedOutput) -> dict[str, dict]:
    return {m.name: dict(zip(m.keys, m.values)) for m in parsed.maps}


@pytest.fixture(scope="module")
def deterministic() -> tuple[ParsedOutput, ParsedOutput]:
    text = bpftrace(DETERMINISTIC)
    as_json = bpftrace(DETERMINISTIC, "-f", "json")
    assert BpftraceTextAnalyzer().detect(text) > BpftraceJsonAnalyzer().detect(text)
    assert BpftraceJsonAnalyzer().detect(as_json) > BpftraceTextAnalyzer().detect(as_json)
    return BpftraceTextAnalyzer().parse(text), BpftraceJsonAnalyzer().parse(as_json)


def test_text_output_maps_are_read_exactly(deterministic) -> None:  # type: ignore[no-untyped-def]
    maps = by_name(deterministic[0])
    hist = maps["@lat_us"][None]
    assert [(b.low, b.high, b.count) for b in hist][:4] == [(0, 1, 1), (1, 2, 1), (2, 4, 2), (4, 8, 4)]
    assert sum(b.count for b in hist) == 200
    lin = maps["@lin"][None]
    assert (lin[0].low, lin[0].high, lin[0].count) == (None, 0, 100)  # underflow: the negative values
    assert (lin[-1].low, lin[-1].high, lin[-1].count) == (50, None, 50)  # overflow above the lhist max
    assert maps["@calls"]["0, k"] == 29 and sum(maps["@calls"].values()) == 200
    assert maps["@bytes"] == {"0": 3900, "1": 3940, "2": 3980, "3": 4020, "4": 4060}
    assert maps["@s"][None] == (200, 99, 19900)
    assert maps["@mx"][None] == 199 and maps["@mn"][None] == 0
    assert maps["@tup"][None] == [1, "two", 3] and maps["@str"][None] == "hello"


def test_text_and_json_forms_agree(deterministic) -> None:  # type: ignore[no-untyped-def]
    text, as_json = (by_name(parsed) for parsed in deterministic)
    assert set(text) == set(as_json)
    for name in ("@lat_us", "@lin", "@s", "@mx", "@mn", "@tup", "@str"):
        assert list(text[name].values()) == list(as_json[name].values()), name
    assert {k.replace(" ", ""): v for k, v in text["@calls"].items()} == as_json["@calls"]  # '0, k' vs '0,k'
    assert sorted(text["@bytes"].values()) == sorted(as_json["@bytes"].values())
    assert [v for v in text["@a"].values()] == [
        v.average for v in as_json["@a"].values()
    ]  # avg(): text shows only it


def test_printf_lines_become_a_table_with_units(deterministic) -> None:  # type: ignore[no-untyped-def]
    for parsed in deterministic:
        (table,) = parsed.tables
        assert [c.name for c in table.columns] == ["ID", "LAT_US", "NAME"] and table.rows == 10
        latency = table.columns[1]
        assert latency.numeric and latency.unit == "us" and latency.values[:3] == [0, 60, 120]
        report = build_report(parsed)
        summary = report.tables[0]
        assert summary.slowest_by == "LAT_US" and summary.slowest[0] == {
            "ID": 180,
            "LAT_US": 540,
            "NAME": "name0",
        }


def test_histogram_statistics_are_interpolated_in_buckets(deterministic) -> None:  # type: ignore[no-untyped-def]
    report = build_report(deterministic[1])
    dist = next(d for d in report.distributions if d.subject == "@lat_us")
    # 200 values 0..199: rank 100 falls in [64, 128) after 64 values: 64 + 64 * (100 - 64) / 64 = 100
    assert dist.count == 200 and dist.p50.bucket == "[64, 128)" and dist.unit == "us"
    assert dist.p50.estimate == pytest.approx(100)
    assert dist.p99.bucket == "[128, 256)" and dist.p99.estimate == pytest.approx(128 + 128 * (198 - 128) / 72)
    kinds = {(a.kind, a.subject) for a in report.anomalies}
    assert ("underflow", "@lin") in kinds and ("overflow", "@lin") in kinds


def _load(stop: threading.Event) -> None:
    """Short-lived `cat` processes: bursts of syscalls, with pauses in which bpftrace catches up."""
    while not stop.is_set():
        subprocess.run(["cat", "/etc/services"], stdout=subprocess.DEVNULL, check=False)
        time.sleep(0.005)


def test_maps_printed_per_interval_become_series_with_their_time_labels() -> None:
    program = (
        # The histogram is fed by a timer (~400 samples an interval on 2 CPUs, busy or idle): p99 needs 100.
        "tracepoint:raw_syscalls:sys_enter { @calls[comm] = count(); } "
        "profile:hz:997 { @lat_ns = hist(nsecs % 1000); } "
        'interval:ms:200 { time("%H:%M:%S\\n"); print(@calls); print(@lat_ns); clear(@calls); clear(@lat_ns); '
        # six printouts, however late a loaded machine fires the timer; no unlabelled printout at exit
        "@printed = @printed + 1; if (@printed >= 6) { exit(); } } "
        "END { clear(@printed); clear(@calls); clear(@lat_ns); }"
    )
    parsed = BpftraceTextAnalyzer().parse(bpftrace(program))
    assert len(parsed.snapshots) >= 5
    assert all(s.label and s.label.count(":") == 2 for s in parsed.snapshots), [s.label for s in parsed.snapshots]
    report = build_report(parsed)
    subjects = {s.subject for s in report.series}
    assert "@lat_ns count" in subjects and "@lat_ns p99" in subjects and "@calls total" in subjects
    total = next(s for s in report.series if s.subject == "@calls total")
    assert not total.cumulative and all(value > 0 for value in total.values[:5])


def test_lost_events_are_counted() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=_load, args=(stop,))
    worker.start()
    try:
        output = bpftrace(
            'tracepoint:raw_syscalls:sys_enter /comm == "cat"/ { printf("%s %d %d %s\\n", comm, pid, args->id, '
            '"padding padding padding padding padding padding"); } interval:ms:1000 { exit(); }',
            env={"BPFTRACE_PERF_RB_PAGES": "1"},
            timeout=180,  # a one-second program, but it prints a line per syscall on a busy machine
        )
    finally:
        stop.set()
        worker.join()
    written = sum(int(line.split()[1]) for line in output.splitlines() if line.startswith("Lost "))
    assert written > 0, "a one-page ring buffer under load should drop events"
    parsed = BpftraceTextAnalyzer().parse(output)
    assert parsed.lost_events == written
    assert parsed.tables and parsed.tables[0].rows > 1000  # the events became a table (columns col1..)
    assert build_report(parsed).anomalies[0].kind == "lost_events"


@pytest.mark.parametrize("flags", [(), ("-f", "json")])
def test_helper_errors_are_reported(flags: tuple[str, ...]) -> None:
    output = bpftrace(
        "BEGIN { @[1] = 1; @[2] = 2; @[3] = 3; exit(); }", "-k", *flags, env={"BPFTRACE_MAP_KEYS_MAX": "2"}
    )
    analyzer = BpftraceJsonAnalyzer() if flags else BpftraceTextAnalyzer()
    parsed = analyzer.parse(output)
    assert len(parsed.helper_errors) == 1 and "map_update_elem" in parsed.helper_errors[0]
    assert by_name(parsed)["@"] in ({1: 1, 2: 2}, {"1": 1, "2": 2})
    assert parsed.other_lines == 0  # the program line and the ~~~ marker under the warning are not events
    anomaly = next(a for a in build_report(parsed).anomalies if a.kind == "helper_errors")
    assert "BPFTRACE_MAP_KEYS_MAX" in anomaly.message


def test_stack_keys_span_lines_and_read_as_frames() -> None:
    text = bpftrace("profile:hz:499 { @[kstack(3)] = count(); } interval:ms:400 { exit(); }")
    parsed = BpftraceTextAnalyzer().parse(text)
    (stacks,) = parsed.maps
    stacks_seen = [key for key in stacks.keys if key]  # '' is a sample with no kernel stack (user space)
    assert stacks_seen and all(key.startswith("\n    ") and key.endswith("\n") for key in stacks_seen)
    assert sum(stacks.values) > 0
    frames = stacks_seen[0].strip().split("\n")
    assert 1 <= len(frames) <= 3 and all("+" in frame or frame.strip().startswith("0x") for frame in frames)


def test_stack_keys_of_json_output_read_as_the_text_ones() -> None:
    """bpftrace 0.23 escapes the newlines of -f json stack keys once more and indents frames by 8."""
    output = bpftrace("profile:hz:499 { @[kstack(3)] = count(); } interval:ms:400 { exit(); }", "-f", "json")
    parsed = BpftraceJsonAnalyzer().parse(output)
    (stacks,) = parsed.maps
    stacks_seen = [key for key in stacks.keys if key.strip()]  # blank: a sample taken in user space
    assert stacks_seen and sum(stacks.values) > 0
    assert all(key.strip() or "\\" not in key for key in stacks.keys)
    for key in stacks_seen:
        assert "\\n" not in key and key.startswith("\n    ") and key.endswith("\n"), repr(key)
        frames = key.strip("\n").split("\n")
        assert 1 <= len(frames) <= 3 and all(frame.startswith("    ") and not frame.startswith("     ")
                                             for frame in frames), repr(key)


EXAMPLES = Path("/usr/share/doc/bpftrace/examples")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*_example.txt")) if EXAMPLES.is_dir() else []


@pytest.mark.skipif(not EXAMPLE_FILES, reason="the bpftrace package's example outputs are not installed here")
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_every_shipped_example_output_parses(path: Path) -> None:
    text = path.read_text(errors="replace")
    parsed = BpftraceTextAnalyzer().parse(text)
    printouts = [m for s in parsed.snapshots for m in s.maps] if parsed.snapshots else parsed.maps
    rows = [line for line in text.splitlines() if line[:1] in "[(" and line.rstrip().endswith("|")]
    parsed_rows = [
        bucket for m in printouts if m.kind == "hist" for buckets in m.values for bucket in buckets
    ]
    assert len(parsed_rows) == len(rows)
    assert sum(b.count for b in parsed_rows) == sum(int(row.split("|")[0].split()[-1]) for row in rows)
    for dist in build_report(parsed).distributions:
        given = [p.estimate for p in (dist.p50, dist.p90, dist.p99) if p is not None]
        assert given == sorted(given)


@pytest.mark.skipif(not EXAMPLE_FILES, reason="the bpftrace package's example outputs are not installed here")
def test_shipped_examples_give_the_findings_their_authors_describe() -> None:
    def report(name: str):  # type: ignore[no-untyped-def]
        parsed = BpftraceTextAnalyzer().parse((EXAMPLES / f"{name}_example.txt").read_text())
        return parsed, build_report(parsed)

    _, biolatency = report(
        "biolatency"
    )  # "two modes ... 1 and 2 ms ... 8 and 16 ms ... 128 to 256 ms: outliers"
    (dist,) = biolatency.distributions
    assert dist.count == 883 and dist.modes == ["[1K, 2K)", "[8K, 16K)"] and dist.unit == "us"
    tail = next(a for a in biolatency.anomalies if a.kind == "isolated_tail")
    assert tail.evidence["buckets"] == ["[128K, 256K)"] and tail.evidence["count"] == 10

    _, xfsdist = report("xfsdist")  # "a bi-modal distribution for read latency"
    assert next(d for d in xfsdist.distributions if d.subject == "@us[xfs_file_read_iter]").modes

    parsed, vfsstat = report("vfsstat")  # five per-second printouts
    assert len(parsed.snapshots) == 5 and parsed.snapshots[0].label == "21:30:38"
    assert next(s for s in vfsstat.series if s.subject == "@[vfs_read]").values[0] == 11515

    _, pidpersec = report("pidpersec")  # a build launched at 06:33:40 jumps from ~120 to thousands
    spike = next(a for a in pidpersec.anomalies if a.kind == "spike")
    assert "06:33:4" in spike.message

    _, syscount = report("syscount")  # "the process name with the most syscalls was make"
    process = next(t for t in syscount.top if t.subject == "@process")
    assert process.top[0].key == "make" and process.top[0].value == 1404065

    _, tcplife = report("tcplife")  # a table whose MS column is a duration
    assert tcplife.tables[0].slowest_by == "MS" and tcplife.tables[0].slowest[0]["MS"] == 12442
