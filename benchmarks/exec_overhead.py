"""End-to-end cost of a run through MCP over stdio versus running bpftrace directly, side by side.

Each round runs `BEGIN { printf("hello\\n"); exit(); }` once with `bpftrace -e` and once through
`exec_program` with wait=true over a live `mcptrace serve`, alternating so that both see the same
machine load. Usage: python benchmarks/exec_overhead.py [--runs 20]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time

from _common import StdioServer, median_ms

PROGRAM = 'BEGIN { printf("hello\\n"); exit(); }'


def direct(bpftrace: str) -> float:
    begin = time.perf_counter()
    out = subprocess.run([bpftrace, "-e", PROGRAM], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - begin
    assert "hello" in out
    return elapsed


def through_mcp(server: StdioServer) -> float:
    begin = time.perf_counter()
    reply = server.request("tools/call", {"name": "exec_program", "arguments": {"program": PROGRAM, "wait": True}})
    elapsed = time.perf_counter() - begin
    result = reply["result"]
    assert not result.get("isError") and "hello" in result["structuredContent"]["lines"], result
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    bpftrace = shutil.which("bpftrace") or "/usr/bin/bpftrace"
    server = StdioServer()
    server.initialize()
    through_mcp(server)
    direct(bpftrace)
    plain, served = [], []
    for _ in range(args.runs):
        plain.append(direct(bpftrace))
        served.append(through_mcp(server))
    server.close()
    overhead = [s - p for s, p in zip(served, plain, strict=True)]
    print(f"bpftrace -e directly:        {median_ms(plain)}")
    print(f"exec_program wait over MCP:  {median_ms(served)}")
    print(f"overhead per run:            median {statistics.median(overhead) * 1000:.1f} ms (target <= 30 ms)")


if __name__ == "__main__":
    main()
