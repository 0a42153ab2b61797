"""Validation of a program on 360 tracepoints, next to bpftrace's own cheapest check, on this bpftrace.

    python benchmarks/validate_wide_bench.py [--rounds N] [--dry-run]

Targets (issue 13): full validation at most 1.5x bpftrace's cheapest check that attaches nothing
(``Bpftrace.check_flags``: ``-d`` on 0.17, ``--emit-elf /dev/null`` where -d takes a stage), and never
more than 5 s. Timed in alternation, warm (probe catalog and probe-type trials loaded, as in a running
server); each round's program differs by a comment, so the compile cache never answers. ``--dry-run``
also times bpftrace's --dry-run where it exists (it attaches every probe: tens of seconds on 0.23).
Run it on the host and inside the Debian 13 tree (.ci/debian13-root.sh mount, then chroot).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from _common import median_ms

from mcptrace_core.config import load_settings
from mcptrace_core.safety.policies import run_policies
from mcptrace_core.services import Services

WIDE = "tracepoint:syscalls:sys_enter_* { @calls[probe] = count(); }"


async def timed_process(argv: list[str]) -> float:
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await process.wait()
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="also time --dry-run (slow on 0.23)")
    args = parser.parse_args()
    from mcptrace_bpftrace.validate.validator import validate

    services = Services.create(load_settings())
    backend = services.backend("bpftrace")
    bpftrace = backend.executable()
    policies = run_policies(services, None)
    rules = services.registry.safety_rules
    check = backend.command() + bpftrace.check_flags
    report = await validate(backend, WIDE, policies, rules)  # warm: catalog, probe types, grammar
    probes = sum(probe.count or 0 for probe in report.probes)
    print(f"{bpftrace.version_text}: check {' '.join(bpftrace.check_flags)}; the program attaches {probes} probes")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    checks, validations, ratios = [], [], []
    for round_ in range(args.rounds):
        program = f"// round {round_}\n{WIDE}"
        for turn in (0, 1) if round_ % 2 else (1, 0):  # who goes first warms the kernel's caches
            if turn:
                checks.append(await timed_process([*check, "-e", program]))
                continue
            start = time.perf_counter()
            report = await validate(backend, program, policies, rules)
            validations.append(time.perf_counter() - start)
            assert report.valid, report.errors
        ratios.append(validations[-1] / checks[-1])
    print(f"bpftrace {' '.join(bpftrace.check_flags)} alone: {median_ms(checks)}")
    print(f"full validation:          {median_ms(validations)}")
    print(f"ratio (paired):           median {sorted(ratios)[len(ratios) // 2]:.2f}x")
    if args.dry_run and "--dry-run" in bpftrace.help_text:
        dry = await timed_process([*backend.command(), "--dry-run", "-e", WIDE])
        print(f"bpftrace --dry-run (attaches everything), once: {dry:.1f} s")
    await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
