"""Cost of generate_from_template without the bpftrace check (check=false), median and p99.

Three numbers: the first call of each template (its parameter model built and its body compiled), the
tool in process once warm (arguments validated, catalog built, parameters validated and rendered, probes
found, result model made; wall and CPU time, as other work on the machine stretches the wall time), and
the same call over a live `mcptrace serve` on stdio (JSON-RPC included).
Every call cycles through all templates with filters, an output and a time series set.
Usage: python benchmarks/templates_bench.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from _common import StdioServer

from mcptrace_core.config import load_settings
from mcptrace_core.services import Services
from mcptrace_core.templates.catalog import TemplateCatalog
from mcptrace_core.templates.model import AGGREGATE_OUTPUTS
from mcptrace_core.tools import invoke


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(samples) * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms (n={len(samples)})"


def requests(catalog: TemplateCatalog) -> list[dict[str, Any]]:
    """One request per template: its examples, every filter it takes, an aggregate output as a time series."""
    made = []
    for template in sorted(catalog.templates.values(), key=lambda t: t.name):
        parameters: dict[str, Any] = {**template.example_parameters(), "duration_s": "1m"}
        parameters.update({name: value for name, value in (("pid", 1234), ("comm", 'odd "name"')) if name in template.filters})
        aggregate = [output for output in template.outputs if output in AGGREGATE_OUTPUTS]
        if aggregate:
            if len(template.outputs) > 1:
                parameters["output"] = aggregate[-1]
            parameters.update(interval_s=5, top=10)
        made.append({"template_name": template.name, "parameters": parameters, "check": False})
    return made


async def in_process(calls: int) -> tuple[list[float], list[float], list[float]]:
    services = Services.create(load_settings(Path("/nonexistent/mcptrace-bench.toml")))
    spec = services.registry.get("tool", "generate_from_template")
    batch = requests(TemplateCatalog.from_registry(services.registry))
    first = []
    for arguments in batch:
        begin = time.perf_counter()
        await invoke(services, spec, arguments)
        first.append(time.perf_counter() - begin)
    warm, cpu = [], []
    for index in range(calls):
        begin, begin_cpu = time.perf_counter(), time.thread_time()
        await invoke(services, spec, batch[index % len(batch)])
        warm.append(time.perf_counter() - begin)
        cpu.append(time.thread_time() - begin_cpu)
    await services.aclose()
    return first, warm, cpu


def over_stdio(calls: int, batch: list[dict[str, Any]]) -> list[float]:
    server = StdioServer()
    server.initialize()
    for arguments in batch:  # warm: every template compiled once in the server
        server.request("tools/call", {"name": "generate_from_template", "arguments": arguments})
    samples = []
    for index in range(calls):
        begin = time.perf_counter()
        reply = server.request("tools/call", {"name": "generate_from_template", "arguments": batch[index % len(batch)]})
        samples.append(time.perf_counter() - begin)
        assert not reply["result"].get("isError"), reply
    server.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    first, warm, cpu = asyncio.run(in_process(args.calls))
    services = Services.create(load_settings(Path("/nonexistent/mcptrace-bench.toml")))
    batch = requests(TemplateCatalog.from_registry(services.registry))
    stdio = over_stdio(max(1, args.calls // 5), batch)
    print(f"first call per template (model + compile): {stats(first)}")
    print(f"generate_from_template, check=false:       {stats(warm)}  (target <= 5 ms)")
    print(f"  its CPU time (what load cannot inflate):  {stats(cpu)}")
    print(f"  same over MCP stdio (JSON-RPC included):  {stats(stdio)}")


if __name__ == "__main__":
    main()
