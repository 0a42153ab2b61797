"""The BCC tool catalog: how long learning the installed tools takes, and what `full` exposure costs a start.

- cold: nothing cached (a fresh install): every tool's --help is read and every tool is tried;
- new boot: the --help schemas are cached (per install), the trials run again (per boot);
- warm: everything cached;
- start path: the synchronous read of the caches that `full` exposure does while the server starts;
- search index contribution: the BCC tools as capabilities, read from the caches on the first search;
- serve: first tools/list of `mcptrace serve` in compact and in full mode (warm caches).

Usage: python benchmarks/bcc_catalog.py [--runs 7]   (as root, with libbpf-tools / bpfcc-tools installed)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import StdioServer, median_ms


def _catalog():  # type: ignore[no-untyped-def]
    from mcptrace_bcc.catalog import BccCatalog

    from mcptrace_core.config import BccSettings

    return BccCatalog(BccSettings(), lambda: [])


def _backend():  # type: ignore[no-untyped-def]
    from mcptrace_bcc.backend import BccBackend

    from mcptrace_core.config import load_settings

    return BccBackend(load_settings(Path("/nonexistent/mcptrace.toml")))


async def _learn_all() -> tuple[float, int, int]:
    begin = time.perf_counter()
    tools = await _catalog().all()
    return time.perf_counter() - begin, len(tools), sum(1 for tool in tools if tool.usability.usable)


def _serve_s(exposure: str) -> tuple[float, int]:
    os.environ["MCPTRACE_SERVER__EXPOSURE"] = exposure
    begin = time.perf_counter()
    server = StdioServer()
    server.initialize()
    count = len(server.request("tools/list")["result"]["tools"])
    elapsed = time.perf_counter() - begin
    server.close()
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mcptrace-bench-cache-")
    cold, total, usable = asyncio.run(_learn_all())
    print(f"cold (help + trials of {total} tools, {usable} usable): {cold:.1f} s")
    (Path(os.environ["XDG_CACHE_HOME"]) / "mcptrace" / "bcc-usability.json").unlink()
    boot, _, _ = asyncio.run(_learn_all())
    print(f"new boot (trials only):                   {boot:.1f} s")
    warm = [asyncio.run(_learn_all())[0] for _ in range(args.runs)]
    print(f"warm (all cached):                        {median_ms(warm)}")
    start_path = []
    for _ in range(args.runs):
        begin = time.perf_counter()
        _catalog().cached()
        start_path.append(time.perf_counter() - begin)
    print(f"full-mode start path (read caches):       {median_ms(start_path)}")
    index_path = []
    for _ in range(args.runs):
        begin = time.perf_counter()
        found = _backend().capabilities()
        index_path.append(time.perf_counter() - begin)
    print(f"search index contribution ({len(found)} capabilities from the caches): {median_ms(index_path)}")
    _serve_s("full")  # warms the page cache; then compact and full alternate, so load changes hit both alike
    compact, full, counts = [], [], {}
    for _ in range(args.runs):
        for exposure, samples in (("compact", compact), ("full", full)):
            elapsed, counts[exposure] = _serve_s(exposure)
            samples.append(elapsed)
    print(f"serve compact ({counts['compact']} tools) first tools/list: {median_ms(compact)}")
    print(f"serve full ({counts['full']} tools) first tools/list:    {median_ms(full)}"
          f" ({statistics.median(full) / statistics.median(compact):.2f}x compact)")


if __name__ == "__main__":
    main()
