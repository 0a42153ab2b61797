"""Run-manager ingestion: a child prints 2 million short lines; measure lines/s and memory growth.

The output caps bound memory: the buffer keeps head and tail and counts the rest, so RSS must not grow
with the amount of output. Usage: python benchmarks/ingest.py [--lines 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

from mcptrace_core.config import RunSettings
from mcptrace_core.runs.manager import RunManager
from mcptrace_core.runs.models import RunSpec


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def ingest(lines: int) -> None:
    manager = RunManager(RunSettings())
    spec = RunSpec(argv=["seq", "1", str(lines)], backend="bench", label="seq", timeout_s=600)
    before = rss_mb()
    begin = time.perf_counter()
    run = await manager.start(spec)
    await run.wait_done()
    elapsed = time.perf_counter() - begin
    after = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert run.output.total == lines, run.output.total
    print(f"{lines} lines in {elapsed:.2f} s: {lines / elapsed:,.0f} lines/s (target >= 200,000)")
    print(f"kept {lines - run.output.dropped}, dropped {run.output.dropped}")
    print(f"RSS {before:.1f} -> {after:.1f} MB (growth {after - before:.1f} MB, target < 50 MB); peak {peak:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=2_000_000)
    asyncio.run(ingest(parser.parse_args().lines))


if __name__ == "__main__":
    main()
