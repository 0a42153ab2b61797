"""What parsing a BCC tool's output as it streams costs a run: lines per second through the decoder
(rows of a snoop tool, keyed histograms of runqlat -P), and get_result's table parse of a full page.

The lines are generated in the tools' own shapes with a fixed seed; each line goes through the decoder
into a real Run, as the run manager feeds it.

Usage: python benchmarks/bcc_output.py [--lines 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from mcptrace_analyzers.analyzers import BccAnalyzer
from mcptrace_bcc.output import BccOutputDecoder

from mcptrace_core.config import load_settings
from mcptrace_core.runs.models import RunSpec
from mcptrace_core.runs.run import Run

COMMANDS = ["/usr/bin/cat /etc/hosts", "/usr/bin/ls -l /tmp", "/bin/sh -c true", "/usr/bin/git status --short"]


def snoop_lines(count: int, rng: random.Random) -> list[str]:
    lines = ["PCOMM            PID    PPID   RET ARGS"]
    for _ in range(count):
        command = rng.choice(COMMANDS)
        lines.append(f"{command.split()[0].rsplit('/', 1)[1]:<16} {rng.randint(1000, 99999):<6} "
                     f"{rng.randint(1, 999):<6} {rng.choice((0, 0, 0, -2)):>3} {command}")
    return lines


def histogram_lines(count: int, rng: random.Random) -> list[str]:
    lines: list[str] = []
    while len(lines) < count:
        lines += ["", f"pid = {rng.randint(1, 99999)} worker", "     usecs               : count    distribution"]
        low = 0
        for _ in range(12):
            high = max(1, 2 * low) * 2 - 1 if low else 1
            lines.append(f"{low:>10} -> {high:<10} : {rng.randint(0, 500):<8} |{'*' * rng.randint(0, 40):<40}|")
            low = high + 1
    return lines[:count]


def feed_seconds(lines: list[str]) -> tuple[float, Run, BccOutputDecoder]:
    analyzer = BccAnalyzer()
    decoder = BccOutputDecoder(analyzer, analyzer.stream())
    limits = load_settings(Path("/nonexistent/mcptrace.toml")).runs
    run = Run("bench", RunSpec(argv=["x"], backend="bcc", label="x", timeout_s=1, decoder=decoder), limits)
    begin = time.process_time()
    for line in lines:
        decoder.feed(line, run)
    decoder.finish(run)
    return time.process_time() - begin, run, decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    for name, lines in (("snoop rows", snoop_lines(args.lines, rng)),
                        ("keyed histograms", histogram_lines(args.lines, rng))):
        best, run, decoder = min((feed_seconds(lines) for _ in range(args.runs)), key=lambda item: item[0])
        print(f"{name}: {len(lines)} lines fed in {best:.3f} s CPU -> {len(lines) / best:,.0f} lines/s "
              f"({sum(len(m.entries) for m in run.maps.values())} histogram entries)")
        page = run.output.page(run.output.total - 5000, 5000)
        samples = []
        for _ in range(args.runs):
            begin = time.process_time()
            tables = decoder.page_tables(page.offset, page.lines)
            samples.append(time.process_time() - begin)
        rows = sum(len(table.rows) for table in tables)
        print(f"  get_result page of {len(page.lines)} lines: {rows} rows parsed in {min(samples) * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
