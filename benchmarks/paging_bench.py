"""get_result paging through the official MCP client, against the same paging without a client library.

The official client validates every structured result against the tool's output schema. Two servers
are measured, one per `server.output_schemas` mode (compact, the default, and full), each paged both
by the official `mcp.Client` over stdio and by hand-written JSON-RPC lines (the floor: the same server
work with no client cost), all four in each round, in a rotating order. A run printing ROWS lines is paged LIMIT lines at a time.

Usage: python benchmarks/paging_bench.py [--rounds 7]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from _common import MCPTRACE, StdioServer

ROWS = 3_000
"""A BEGIN loop prints them; many more overflow bpftrace's event buffer (and lose its exit())."""
LIMIT = 200
MODES = ("compact", "full")
PROGRAM = f'BEGIN {{ $i = 0; while ($i < {ROWS}) {{ printf("row %d of the paging benchmark\\n", $i); $i++; }} exit(); }}'


def config(directory: Path, mode: str) -> str:
    path = directory / f"{mode}.toml"
    path.write_text(f'[server]\noutput_schemas = "{mode}"\n[runs]\nmax_output_lines = {ROWS + 10}\n')
    return str(path)


def page_raw(server: StdioServer, execution_id: str) -> int:
    offset, lines = 0, 0
    while True:
        reply = server.request("tools/call", {"name": "get_result", "arguments": {
            "execution_id": execution_id, "offset": offset, "limit": LIMIT}})
        data = reply["result"]["structuredContent"]
        lines += len(data["lines"])
        offset = data["next_offset"]
        if not data["has_more"]:
            return lines


async def page_official(client: Client, execution_id: str) -> int:
    offset, lines = 0, 0
    while True:
        result = await client.call_tool("get_result", {"execution_id": execution_id, "offset": offset, "limit": LIMIT})
        data: Any = result.structured_content
        lines += len(data["lines"])
        offset = data["next_offset"]
        if not data["has_more"]:
            return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="mcptrace-paging-"))
    rates: dict[tuple[str, str], list[float]] = {}
    load = os.getloadavg()[0]
    async with contextlib.AsyncExitStack() as stack:
        pagers = {}
        for mode in MODES:
            path = config(directory, mode)
            raw = StdioServer(path)
            stack.callback(raw.close)
            raw.initialize()
            env = {**os.environ, "MCPTRACE_CONFIG": path}
            client = await stack.enter_async_context(Client(
                StdioServerParameters(command=MCPTRACE, args=["serve"], env=env), mode="legacy"))
            started = await client.call_tool("exec_program", {"program": PROGRAM, "wait": True})
            official_id = started.structured_content["execution_id"]  # type: ignore[index]
            reply = raw.request("tools/call", {"name": "exec_program", "arguments": {"program": PROGRAM, "wait": True}})
            raw_id = reply["result"]["structuredContent"]["execution_id"]
            pagers[(mode, "official")] = functools.partial(page_official, client, official_id)
            pagers[(mode, "raw")] = functools.partial(anyio.to_thread.run_sync, page_raw, raw, raw_id)
        for round_number in range(args.rounds):
            order = list(pagers)
            order = order[round_number % len(order):] + order[:round_number % len(order)]
            for case in order:
                begin = time.perf_counter()
                lines = await pagers[case]()
                assert lines == ROWS + 1, f"{case}: {lines} lines"  # and 'Attaching 1 probe...'
                rates.setdefault(case, []).append(lines / (time.perf_counter() - begin))
    print(f"{args.rounds} interleaved rounds of {ROWS + 1} lines in pages of {LIMIT}; load average {load:.1f} "
          f"at the start, {os.getloadavg()[0]:.1f} at the end")
    for mode in MODES:
        official = statistics.median(rates[(mode, "official")])
        raw = statistics.median(rates[(mode, "raw")])
        print(f"output_schemas={mode}: official client {official:,.0f} lines/s, raw JSON-RPC {raw:,.0f} lines/s, "
              f"official/raw {official / raw:.2f}")


if __name__ == "__main__":
    anyio.run(main)
