"""The first search of a new `mcptrace serve`: asked a second after initialize, as a client would.

Spawns the server (stdio, default settings: search.preload on), answers the handshake, times tools/list,
waits a second, then times search_examples, and a few more searches (warm). With --no-preload the
same with search.preload off, for comparison. The vector cache is whatever this user has (run
`mcptrace index build` once, or this script twice, for the cached case).

Usage: python benchmarks/first_search.py [--rounds 5] [--no-preload]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import StdioServer

QUERY = "who is killing processes on this machine"


def one(config: str) -> tuple[float, float, float, int]:
    server = StdioServer(config)
    server.initialize()
    begin = time.perf_counter()
    server.request("tools/list")
    listed = time.perf_counter() - begin
    time.sleep(1.0)
    begin = time.perf_counter()
    reply = server.request("tools/call", {"name": "search_examples", "arguments": {"query": QUERY}})
    first = time.perf_counter() - begin
    assert not reply["result"].get("isError"), reply
    begin = time.perf_counter()
    for _ in range(5):
        server.request("tools/call", {"name": "search_examples", "arguments": {"query": QUERY}})
    warm = (time.perf_counter() - begin) / 5
    rss = int(Path(f"/proc/{server.process.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    server.close()
    return listed, first, warm, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-preload", action="store_true")
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp(prefix="mcptrace-first-")) / "config.toml"
    config.write_text(f"[search]\npreload = {'false' if args.no_preload else 'true'}\n")
    results = [one(str(config)) for _ in range(args.rounds)]
    print(f"{args.rounds} new servers, search.preload={'off' if args.no_preload else 'on'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for index, label in enumerate(("tools/list", "first search 1 s after initialize", "warm search")):
        values = [result[index] * 1000 for result in results]
        print(f"{label}: median {statistics.median(values):.1f} ms, max {max(values):.1f} ms")
    print(f"server RSS after the searches: median {statistics.median(r[3] for r in results)} MB")


if __name__ == "__main__":
    main()
