"""End-to-end cost of a run through MCP over stdio versus running the same program with bare bpftrace.

Two programs, each measured side by side with `bpftrace -e` in one interleaved loop (every round runs
bare bpftrace, then each MCP case, so that all see the same machine load):

- `hello`: `BEGIN { printf(...); exit(); }`, no maps;
- `maps`: a program with a keyed count() and a keyed hist(), the per-CPU maps the kernel preallocates
  (their size is what BPFTRACE_MAP_KEYS_MAX costs).

Each through `exec_program` with wait=true over a live `mcptrace serve`, in two servers: one asked to run a
program it has seen before (the usual validate, then run: validation's compile check is reused) and one
that sees a new program every round (a counter in the printf), which pays for everything validation does.
Ratios are of medians against bare bpftrace of the same text in the same rounds.

Usage: python benchmarks/exec_overhead.py [--runs 20]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from functools import partial

from _common import StdioServer

PROGRAMS = {
    "hello": 'BEGIN { printf("hello\\n"); exit(); }',
    "maps": 'BEGIN { @calls[comm] = count(); @sizes[cpu] = hist(4096); printf("hello\\n"); exit(); }',
}
TARGETS = {"seen": 1.06, "new": 1.10}


def variant(program: str, round_number: int | None) -> str:
    """The program, or for a round number one the server has not seen (same work, other text)."""
    return program if round_number is None else program.replace("hello", f"hello {round_number}")


def direct(bpftrace: str, program: str) -> float:
    begin = time.perf_counter()
    # A session of its own, as the server starts runs: with autogroup scheduling a new session is a new
    # CPU group, which on a loaded machine is worth hundreds of milliseconds to either side.
    out = subprocess.run([bpftrace, "-e", program], capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL, start_new_session=True).stdout
    elapsed = time.perf_counter() - begin
    assert "hello" in out
    return elapsed


def through_mcp(server: StdioServer, program: str) -> float:
    begin = time.perf_counter()
    reply = server.request("tools/call", {"name": "exec_program", "arguments": {"program": program, "wait": True}})
    elapsed = time.perf_counter() - begin
    result = reply["result"]
    lines = result.get("structuredContent", {}).get("lines", [])
    assert not result.get("isError") and any(line.startswith("hello") for line in lines), result
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    bpftrace = shutil.which("bpftrace") or "/usr/bin/bpftrace"
    seen, fresh = StdioServer(), StdioServer()
    for server in (seen, fresh):
        server.initialize()
    for program in PROGRAMS.values():
        through_mcp(seen, program)
        through_mcp(fresh, variant(program, -1))
        direct(bpftrace, program)
    samples: dict[tuple[str, str], list[float]] = {}
    load = os.getloadavg()[0]
    for round_number in range(args.runs):
        for name, program in PROGRAMS.items():
            cases = {
                "bare": partial(direct, bpftrace, variant(program, round_number)),
                "seen": partial(through_mcp, seen, program),
                "new": partial(through_mcp, fresh, variant(program, round_number)),
            }
            order = list(cases)[round_number % 3:] + list(cases)[:round_number % 3]  # no case always goes first
            for case in order:
                samples.setdefault((name, case), []).append(cases[case]())
    seen.close()
    fresh.close()
    print(f"{args.runs} interleaved rounds; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    for name in PROGRAMS:
        bare = statistics.median(samples[(name, "bare")])
        print(f"{name}: bpftrace -e directly median {bare * 1000:.1f} ms")
        for case, label in (("seen", "program seen before"), ("new", "a new program each round")):
            times = samples[(name, case)]
            overhead = statistics.median(s - b for s, b in zip(times, samples[(name, "bare")], strict=True))
            ratio = statistics.median(times) / bare
            print(f"  exec_program, {label + ':':<26} median {statistics.median(times) * 1000:.1f} ms, "
                  f"{ratio:.3f}x bare (target <= {TARGETS[case]:.2f}x), paired overhead {overhead * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
