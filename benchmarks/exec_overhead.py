"""End-to-end cost of a run through MCP over stdio versus running bpftrace directly, side by side.

Each round runs `BEGIN { printf("hello\\n"); exit(); }` once with `bpftrace -e` and once through
`exec_program` with wait=true over a live `mcptrace serve`, alternating so that both see the same
machine load. exec_program validates first, and validation includes bpftrace's own compile check
(``bpftrace -d``, a process of its own); the server reuses a recent check of the same program, as
when an assistant validates and then runs. So two servers are measured: one that is asked to run a
program it has just validated (the same program each round) and one that sees a new program each
round (a counter in the printf), which pays for the compile check.

Usage: python benchmarks/exec_overhead.py [--runs 20]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time

from _common import StdioServer, median_ms

PROGRAM = 'BEGIN { printf("hello\\n"); exit(); }'


def program(round_number: int | None) -> str:
    """The program, or for a round number a program the server has not seen (same work, other text)."""
    return PROGRAM if round_number is None else PROGRAM.replace("hello", f"hello {round_number}")


def direct(bpftrace: str) -> float:
    begin = time.perf_counter()
    out = subprocess.run([bpftrace, "-e", PROGRAM], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - begin
    assert "hello" in out
    return elapsed


def through_mcp(server: StdioServer, round_number: int | None = None) -> float:
    arguments = {"program": program(round_number), "wait": True}
    begin = time.perf_counter()
    reply = server.request("tools/call", {"name": "exec_program", "arguments": arguments})
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
    validated, fresh = StdioServer(), StdioServer()
    for server in (validated, fresh):
        server.initialize()
        through_mcp(server)
    direct(bpftrace)
    plain, served, served_fresh = [], [], []
    for round_number in range(args.runs):
        plain.append(direct(bpftrace))
        served.append(through_mcp(validated))
        served_fresh.append(through_mcp(fresh, round_number))
    validated.close()
    fresh.close()
    print(f"bpftrace -e directly:                   {median_ms(plain)}")
    print(f"exec_program, program validated before: {median_ms(served)}")
    print(f"exec_program, a new program each round: {median_ms(served_fresh)}")
    for label, times in (("validated before", served), ("new program", served_fresh)):
        overhead = statistics.median(s - p for s, p in zip(times, plain, strict=True))
        print(f"overhead per run, {label + ':':<17} median {overhead * 1000:.1f} ms (target <= 30 ms)")


if __name__ == "__main__":
    main()
