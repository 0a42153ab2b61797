"""Validation speed: static analysis alone, and full validation next to bpftrace's own -d.

    /work/venvs/<name>/bin/python benchmarks/validate_bench.py [--rounds N]

Static analysis (parse + every safety rule under the standard policy) must take <= 5 ms (median) for
a 30-line program. Full validation runs bpftrace -d and the probe count side by side, so it should cost
at most ~20 ms more than bpftrace -d alone: both are timed in alternation, in one process, warm (the
probe catalog and the probe-type trial results loaded, as in a running server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from mcptrace_core.config import load_settings
from mcptrace_core.program.parser import parse_program
from mcptrace_core.safety.engine import RuleContext, decide, evaluate
from mcptrace_core.safety.policies import resolve_policy, run_policies
from mcptrace_core.services import Services

PROGRAM_30_LINES = r"""
// Latency of read() and write() per process, and the slowest files opened.
tracepoint:syscalls:sys_enter_read,
tracepoint:syscalls:sys_enter_write
/pid != 0/
{
  @start[tid] = nsecs;
  @calls[comm, probe] = count();
}

tracepoint:syscalls:sys_exit_read,
tracepoint:syscalls:sys_exit_write
/@start[tid]/
{
  $us = (nsecs - @start[tid]) / 1000;
  @latency_us[comm] = hist($us);
  if ($us > 10000) {
    @slow[comm, args->ret] = count();
  }
  delete(@start[tid]);
}

tracepoint:syscalls:sys_enter_openat
{
  @opened[str(args->filename)] = count();
}

// Stop by itself: a trace that answers its question and ends.
interval:s:5 { exit(); }

END { clear(@start); }
""".strip("\n")


PROGRAM_30_LINES_NEW_RULES = r"""
#include <linux/types.h>
// What the safety rules follow: values through maps, a library by identity, files by resolved path.
tracepoint:syscalls:sys_enter_read
/comm == "nginx"/
{
  @buf[tid] = args->buf;
  @start[tid] = nsecs;
}

tracepoint:syscalls:sys_exit_read
/@start[tid]/
{
  $us = (nsecs - @start[tid]) / 1000;
  @latency_us[comm] = hist($us);
  @bytes[comm] = sum(args->ret);
  delete(@start[tid]);
  delete(@buf[tid]);
}

uprobe:libc:malloc
{
  @sizes = hist(arg0);
}

interval:s:1
{
  cat("/proc/loadavg");
  print(@bytes);
}
""".strip("\n")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_static(services: Services, rounds: int, text: str = PROGRAM_30_LINES) -> tuple[list[float], list[float]]:
    """Wall and CPU time of each round: on a shared machine the CPU time shows the cost without the waiting."""
    policy = resolve_policy(services, "standard")
    rules = services.registry.safety_rules
    decide(evaluate(parse_program(text), rules, RuleContext(policy)), policy)  # warm, as a running server is
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        program = parse_program(text)
        decide(evaluate(program, rules, RuleContext(policy)), policy)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


async def bench_full(services: Services, rounds: int) -> tuple[list[float], list[float]]:
    from mcptrace_bpftrace.validate.validator import validate

    backend = services.backend("bpftrace")
    policies = run_policies(services, None)
    rules = services.registry.safety_rules
    command = backend.command() + backend.executable().check_flags
    await validate(backend, PROGRAM_30_LINES, policies, rules)  # warm: catalog, probe types, grammar
    dry_runs, validations = [], []
    for round_number in range(rounds):
        # A new comment each round: the compile cache must not answer for bpftrace.
        text = f"// round {round_number}\n{PROGRAM_30_LINES}"
        start = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, "-e", text, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()
        dry_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = await validate(backend, text, policies, rules)
        validations.append(time.perf_counter() - start)
        assert report.valid, report.errors
    return dry_runs, validations


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="full validations timed (static: 20x this)")
    args = parser.parse_args()
    services = Services.create(load_settings())
    lines = len(PROGRAM_30_LINES.splitlines())
    wall, cpu = bench_static(services, args.rounds * 20)
    print(f"static analysis, {lines}-line program: median {median_ms(wall):.2f} ms wall "
          f"({median_ms(cpu):.2f} ms CPU), p90 {sorted(wall)[int(len(wall) * 0.9)] * 1000:.2f} ms ({len(wall)} runs)")
    wall, cpu = bench_static(services, args.rounds * 20, PROGRAM_30_LINES_NEW_RULES)
    lines = len(PROGRAM_30_LINES_NEW_RULES.splitlines())
    print(f"static analysis, {lines}-line program (include, uprobe, cat, map flows): median {median_ms(wall):.2f} ms "
          f"wall ({median_ms(cpu):.2f} ms CPU), p90 {sorted(wall)[int(len(wall) * 0.9)] * 1000:.2f} ms")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    dry_runs, validations = await bench_full(services, args.rounds)
    overhead = [v - d for v, d in zip(validations, dry_runs, strict=True)]
    print(f"bpftrace -d alone:       median {median_ms(dry_runs):.1f} ms")
    print(f"full validation:         median {median_ms(validations):.1f} ms")
    print(f"full minus -d (paired):  median {median_ms(overhead):+.1f} ms ({args.rounds} pairs)")
    await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
