"""What measuring a run costs the run, side by side with measurement on and off (target: <= 1% of its time).

Each round runs the same program for --seconds under a generated syscall load (a child calling
getppid(2) in a loop), once in a server that measures (overhead.measure = true) and once in one that
does not, alternating so that both see the same machine load. Reported per program:

- the measuring itself: the time the watchdog spent sampling (reading /proc and fdinfo), as a share of
  the run's wall time, and the server's whole CPU time per run second on and off (the difference is
  what measuring adds, pump and decoder included in both);
- the BPF-stats tax: the load's getppid calls per second on and off (with stats on, every BPF program
  run reads the clock twice), and the BPF time per event the kernel reported.

Usage: python benchmarks/overhead_bench.py [--rounds 5] [--seconds 3]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcptrace_core.config import load_settings
from mcptrace_core.runs.watch import Watchdog
from mcptrace_core.services import Services

PROGRAMS = {
    "count per pid on every syscall": "tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }",
    "35 syscall tracepoints": "tracepoint:syscalls:sys_enter_f* { @[probe] = count(); }",
    "interval only": "interval:ms:100 { @ = count(); }",
}
LOAD = "import os, sys, time\nn = 0\nend = time.monotonic() + float(sys.argv[1])\n" \
       "while time.monotonic() < end:\n    for _ in range(1000): os.getppid()\n    n += 1000\nprint(n)"

sampling_s = 0.0


def timed_sampling() -> None:
    """Count the time every watchdog round takes (both the output-rate check and the overhead check)."""
    original = Watchdog.sample_all

    def sample_all(self: Watchdog) -> None:
        global sampling_s
        begin = time.perf_counter()
        original(self)
        sampling_s += time.perf_counter() - begin

    Watchdog.sample_all = sample_all  # type: ignore[method-assign]


async def one_run(services: Services, program: str, seconds: float) -> dict[str, float]:
    global sampling_s
    backend = services.backend("bpftrace")
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(seconds + 3)], stdout=subprocess.PIPE, text=True)
    sampling_s = 0.0
    cpu_before = time.process_time()
    run = await services.runs.start(backend.run_spec(program, seconds))
    await run.wait_done()
    cpu = time.process_time() - cpu_before
    calls = int(load.communicate()[0])
    overhead = run.overhead
    return {
        "wall": run.duration_s,
        "sampling": sampling_s,
        "cpu": cpu,
        "calls_per_s": calls / (seconds + 3),
        "ns_per_event": (overhead.bpf_time_ns / overhead.events) if overhead and overhead.events else float("nan"),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    timed_sampling()
    with tempfile.TemporaryDirectory() as tmp:
        def services(measure: bool) -> Services:
            return Services.create(load_settings(Path(tmp) / "absent.toml", {
                "history": {"enabled": False}, "overhead": {"measure": measure}, "safety": {"level": "permissive"},
            }))

        on, off = services(True), services(False)
        try:
            for label, program in PROGRAMS.items():
                results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
                for _ in range(args.rounds):
                    for measure, server in ((True, on), (False, off)):
                        results[measure].append(await one_run(server, program, args.seconds))
                report(label, results)
        finally:
            await on.aclose()
            await off.aclose()


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def report(label: str, results: dict[bool, list[dict[str, float]]]) -> None:
    on, off = results[True], results[False]
    share = statistics.median(row["sampling"] / row["wall"] for row in on) * 100
    cpu_on = statistics.median(row["cpu"] / row["wall"] for row in on) * 100
    cpu_off = statistics.median(row["cpu"] / row["wall"] for row in off) * 100
    tax = (1 - median(on, "calls_per_s") / median(off, "calls_per_s")) * 100
    print(f"{label} (n={len(on)} each):")
    print(f"  sampling time / run time:          {share:.3f}%  (target <= 1%)")
    print(f"  server CPU per run second on/off:  {cpu_on:.2f}% / {cpu_off:.2f}%  (difference {cpu_on - cpu_off:+.2f} points)")
    print(f"  load getppid/s on/off:             {median(on, 'calls_per_s'):,.0f} / {median(off, 'calls_per_s'):,.0f}"
          f"  (BPF-stats tax {tax:+.1f}%)")
    print(f"  BPF time per event (stats on):     {median(on, 'ns_per_event'):.0f} ns")


if __name__ == "__main__":
    asyncio.run(main())
