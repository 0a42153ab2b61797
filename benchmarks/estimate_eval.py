"""How good calibrated estimates are: validate_program's prediction against what the next run measures.

For each probe: a first program on it runs (and is measured into a fresh history), then a second,
different program on the same probe is validated (the prediction) and run (the truth). The probes
without an earlier run are predicted by sampling (sample_s = 1) or from the rate the spec states.
A syscall load (getppid in a loop) runs throughout, so the syscall probes see steady traffic.

Usage: python benchmarks/estimate_eval.py [--seconds 4]  (needs root and bpftrace)
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from mcptrace_core.config import load_settings
from mcptrace_core.services import Services
from mcptrace_core.tools import invoke

CASES = [  # (probe, first program or None to sample, second program)
    ("tracepoint:syscalls:sys_enter_getppid", "{ @ = count(); }", "{ @[comm] = count(); }"),
    ("tracepoint:raw_syscalls:sys_enter", "{ @ = count(); }", "{ @[pid] = count(); }"),
    ("tracepoint:sched:sched_switch", "{ @ = count(); }", "{ @[args->next_comm] = count(); }"),
    ("tracepoint:syscalls:sys_enter_getppid", None, "{ @[tid] = count(); }"),
    ("interval:ms:10", None, "{ @ = count(); }"),
    ("profile:hz:99", None, "{ @[cpu] = count(); }"),
]
LOAD = "import os\nwhile True: os.getppid()"


async def call(services: Services, tool: str, **arguments: object) -> dict:
    result = await invoke(services, services.registry.get("tool", tool), arguments, client="bench")
    return result.model_dump(mode="json")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    load = subprocess.Popen([sys.executable, "-c", LOAD])
    rows = []
    try:
        for probe, first, second in CASES:
            with tempfile.TemporaryDirectory() as tmp:  # a fresh history per case: nothing else to learn from
                services = Services.create(load_settings(Path(tmp) / "absent.toml", {
                    "history": {"path": str(Path(tmp) / "h.sqlite3")}, "safety": {"level": "permissive"},
                }))
                try:
                    if first is not None:
                        await call(services, "exec_program", program=f"{probe} {first}", timeout_s=args.seconds, wait=True)
                        services.history.flush()
                    program = f"{probe} {second}"
                    report = await call(services, "validate_program", program=program,
                                        sample_s=0 if first else 1)
                    predicted = report["estimated_cost"]["predicted"]
                    run = await call(services, "exec_program", program=program, timeout_s=args.seconds, wait=True)
                finally:
                    await services.aclose()
            actual = run["overhead"]["events_per_s"]
            guess = predicted["events_per_s"]
            ratio = actual / guess if guess else float("nan")
            rows.append((probe, predicted["basis"], guess, actual, ratio, predicted["cpu_pct"], run["overhead"]["bpf_cpu_pct"]))
    finally:
        load.kill()
        load.wait()
    print(f"{'probe':<40} {'basis':<9} {'predicted/s':>12} {'measured/s':>12} {'ratio':>6} {'cpu% pred':>9} {'cpu% meas':>9}")
    for probe, basis, guess, actual, ratio, cpu_guess, cpu_actual in rows:
        print(f"{probe:<40} {basis:<9} {guess or 0:>12,.0f} {actual:>12,.0f} {ratio:>6.2f} "
              f"{cpu_guess if cpu_guess is not None else float('nan'):>9.3f} {cpu_actual:>9.3f}")


if __name__ == "__main__":
    asyncio.run(main())
