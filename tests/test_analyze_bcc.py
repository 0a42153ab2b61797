"""libbpf-tools (the CO-RE BCC tools in /usr/sbin) run here for a second; their output is parsed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from mcptrace_analyzers.analyzers import builtin_analyzers
from mcptrace_analyzers.report import build_report
from mcptrace_analyzers.tool import choose_analyzer

from mcptrace_core.analysis import ParsedOutput
from tests.conftest import libbpf_tool

TOOLS = ("runqlat", "softirqs", "syscount", "execsnoop", "opensnoop", "exitsnoop")
HAVE_TOOLS = os.geteuid() == 0 and all(libbpf_tool(tool) for tool in TOOLS)
pytestmark = pytest.mark.skipif(
    not HAVE_TOOLS, reason="needs root and libbpf-tools (apt-get install libbpf-tools)"
)

LOAD_COMMANDS = (["cat", "/etc/services"], ["cat", "/nonexistent/mcptrace-test"], ["false"])


@pytest.fixture
def load(tmp_path: Path) -> Iterator[None]:
    """Processes that start, read a file, fail to open one and exit 1, so every tool has events; and
    writes forced to the disk, whose completions raise device interrupts (hardirqs, the block softirq)
    even on a quiet virtual machine."""
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            for command in LOAD_COMMANDS:
                subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            time.sleep(0.01)

    def disk() -> None:
        descriptor = os.open(tmp_path / "interrupts", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while not stop.is_set():
                os.pwrite(descriptor, b"x" * 4096, 0)
                os.fsync(descriptor)
                time.sleep(0.002)
        finally:
            os.close(descriptor)

    workers = [threading.Thread(target=work), threading.Thread(target=disk)]
    for worker in workers:
        worker.start()
    yield
    stop.set()
    for worker in workers:
        worker.join()


def run_tool(*argv: str, seconds: float | None = None, until: str | None = None) -> str:
    """Run a tool; a snoop tool (no count argument) is stopped with SIGINT after ``seconds``.

    With ``until``, a snoop tool runs again, each time three times longer (up to 40 s), until its output
    holds that text: on a loaded machine loading the BPF program alone can take longer than ``seconds``.
    """
    path = libbpf_tool(argv[0])
    assert path is not None
    if seconds is None:
        completed = subprocess.run([path, *argv[1:]], check=False, capture_output=True, text=True, timeout=60)
        return completed.stdout
    while True:
        process = subprocess.Popen([path, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(seconds)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=30)
        if until is None or until in stdout or seconds > 40:
            return stdout
        seconds *= 3


def parse(text: str) -> ParsedOutput:
    analyzer = choose_analyzer(builtin_analyzers(), text, None)
    assert analyzer.name == "bcc", text[:500]
    return analyzer.parse(text)


def bucket_total(text: str) -> int:
    """The counts of every 'lo -> hi : count' row, read independently of the parser."""
    return sum(
        int(line.split(":")[1].split("|")[0]) for line in text.splitlines() if "->" in line and "|" in line
    )


def test_runqlat_per_interval_histograms_become_a_series(load: None) -> None:
    text = run_tool("runqlat", "-T", "1", "3")
    parsed = parse(text)
    assert len(parsed.snapshots) == 3 and all(s.label and s.label.count(":") == 2 for s in parsed.snapshots)
    counted = sum(b.count for s in parsed.snapshots for m in s.maps for buckets in m.values for b in buckets)
    assert counted == bucket_total(text)
    report = build_report(parsed)
    # the highest percentile every interval has the samples for: p99 from 100 samples, p90 from 10
    p99 = next(s for s in report.series if s.subject in ("usecs p99", "usecs p90", "usecs p50"))
    assert len(p99.values) == 3 and p99.unit == "us" and p99.labels == [s.label for s in parsed.snapshots]
    (dist,) = report.distributions
    assert dist.unit == "us" and dist.count == sum(b.count for b in parsed.maps[0].values[0])
    given = [p for p in (dist.p50, dist.p90, dist.p99) if p is not None]
    assert len(given) == 3 - len(dist.withheld) or dist.count < 20
    assert all(a.estimate <= b.estimate and (a.low or 0) <= (b.low or 0) for a, b in pairwise(given))


def test_runqlat_in_milliseconds_states_its_unit(load: None) -> None:
    report = build_report(parse(run_tool("runqlat", "-m", "1", "1")))
    assert report.distributions[0].subject == "msecs" and report.distributions[0].unit == "ms"


def test_keyed_histograms_take_their_key_from_the_line_before(load: None) -> None:
    text, kind = run_tool("softirqs", "-d", "1", "1"), "softirq"
    if "failed to load BPF object" in text or not text.strip():
        # Debian 13's softirqs-libbpf -d is refused by this kernel's verifier; hardirqs -d prints the same shape.
        text, kind = run_tool("hardirqs", "-d", "3", "1"), "hardirq"
    if not printed_histograms(text):
        pytest.skip(f"no {kind} fired while the tool ran (a quiet virtual machine): {text[-200:]!r}")
    parsed = parse(text)
    (histograms,) = parsed.maps
    assert histograms.keys and all(key.startswith(f"{kind}=") for key in histograms.keys)
    assert parsed.other_lines <= 1  # only the 'Tracing ...' banner is left over
    top = build_report(parsed).top
    if len(histograms.keys) >= 2:  # top keys rank two or more (one kind only: the disk's, in Debian 13's leg)
        assert top[0].subject == "usecs" and top[0].keys == len(histograms.keys)


def test_summary_tables_rank_their_keys(load: None) -> None:
    parsed = parse(run_tool("softirqs", "1", "1"))
    report = build_report(parsed)
    (table,) = report.tables
    assert table.columns == ["SOFTIRQ", "TOTAL_usecs"]
    top = next(t for t in report.top if t.subject == "TOTAL_usecs")
    assert top.unit == "us" and top.top[0].share is not None and top.top1_share >= top.top[-1].share  # type: ignore[operator]


def test_syscount_latency_column_has_a_unit(load: None) -> None:
    parsed = parse(run_tool("syscount", "-L", "-d", "1"))
    (table,) = parsed.tables
    assert [c.name for c in table.columns] == ["SYSCALL", "COUNT", "TIME (us)"]
    time_us = table.columns[2]
    assert time_us.numeric and time_us.unit == "us" and table.rows >= 3
    summary = build_report(parsed).tables[0]
    assert summary.slowest_by == "TIME (us)"
    assert summary.slowest[0]["TIME (us)"] == max(time_us.values)


def test_execsnoop_rows_keep_their_arguments_whole(load: None) -> None:
    parsed = parse(run_tool("execsnoop", seconds=1.5, until="/etc/services"))
    (table,) = parsed.tables
    names = [c.name for c in table.columns]
    assert names == ["PCOMM", "PID", "PPID", "RET", "ARGS"]
    args = table.columns[names.index("ARGS")].values
    assert "/usr/bin/cat /etc/services" in [value.strip() for value in args if value]
    comm = next(s for s in build_report(parsed).tables[0].summaries if s.column == "PCOMM")
    assert comm.role == "value" and "cat" in [share.key for share in comm.top]


def test_opensnoop_failures_are_an_anomaly_with_their_errno(load: None) -> None:
    parsed = parse(run_tool("opensnoop", seconds=1.5, until="/nonexistent/mcptrace-test"))
    report = build_report(parsed)
    failures = next(a for a in report.anomalies if a.kind == "errors" and a.subject == "ERR")
    assert "2" in failures.evidence["codes"]  # ENOENT from the cat of a missing file


def test_exitsnoop_exit_codes_are_counted(load: None) -> None:
    parsed = parse(run_tool("exitsnoop", seconds=1.5, until="false "))
    report = build_report(parsed)
    failures = next(a for a in report.anomalies if a.kind == "errors" and a.subject == "EXIT_CODE")
    assert failures.evidence["failed"] >= 1


BCC_HEAD = re.compile(r"\s*(\S+)\s+: count\s+distribution\s*\Z")
BCC_KEY = re.compile(r"([A-Za-z_][\w ]*?) = (.+)\Z")


def printed_histograms(text: str) -> list[tuple[str, str | None, int]]:
    """(unit, key, sum of its rows) of every histogram a tool printed, in order, read here: a key line
    such as 'pid = 42 sh' may stand right above the 'usecs : count distribution' header."""
    found: list[tuple[str, str | None, int]] = []
    previous, inside = "", False
    for line in text.splitlines():
        head = BCC_HEAD.match(line)
        if head:
            key = BCC_KEY.match(previous)
            found.append((head.group(1), f"{key.group(1)}={key.group(2)}" if key else None, 0))
            inside = True
        elif inside and "->" in line and line.rstrip().endswith("|"):
            unit, key, total = found[-1]
            found[-1] = (unit, key, total + int(line.split(":")[1].split("|")[0]))
        else:
            inside = False
            previous = line.strip() if line.strip() else previous
    return found


LIVE_HISTOGRAMS = [
    ("runqlat", "-T", "1", "2"),  # interval output under time stamps
    ("runqlat", "-P", "1", "2"),  # one histogram per process, two intervals with no time stamp
    ("runqlat", "-P", "-T", "1", "2"),
    ("runqlat", "-L", "-m", "1", "1"),  # per thread, milliseconds
    ("cpudist", "1", "2"),
    ("cpudist", "-O", "-P", "1", "1"),  # off-CPU time per process
    ("softirqs", "-d", "-T", "1", "2"),
    ("hardirqs", "-d", "1", "1"),
]


@pytest.mark.parametrize("argv", LIVE_HISTOGRAMS, ids=" ".join)
def test_live_histograms_keep_every_printout_and_count(load: None, argv: tuple[str, ...]) -> None:
    if libbpf_tool(argv[0]) is None:
        pytest.skip(f"{argv[0]} of libbpf-tools is not installed here (apt-get install -y libbpf-tools)")
    text = run_tool(*argv)
    printed = printed_histograms(text)
    if not printed:
        pytest.skip(f"{' '.join(argv)} printed no histogram here (no events of its kind): {text[-300:]!r}")
    parsed = parse(text)
    found = [
        (m.name, key, sum(b.count for b in buckets))
        for snapshot in parsed.snapshots
        for m in snapshot.maps
        for key, buckets in zip(m.keys, m.values)
    ]
    assert found == printed
    stamps = [line for line in text.splitlines() if re.fullmatch(r"\d\d:\d\d:\d\d", line.strip())]
    if stamps:  # -T: one snapshot per interval, labelled with its time
        assert [s.label for s in parsed.snapshots] == [s.strip() for s in stamps]
    report = build_report(parsed)
    for dist in report.distributions:
        assert (dist.p99 is None) == (dist.count < 100) and (dist.p50 is None) == (dist.count < 2)
