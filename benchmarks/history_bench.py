"""What the history costs: recording a run, filling a big store, and search_history over 100,000 runs.

1. Recording: a real Run object with 200 output lines and a map goes through the run manager's listener
   calls (run_started + run_ended) as it would at the start and end of a run. Reported twice: the cost on
   the event loop (queueing; what a run waits for), and end to end until the rows are committed by the
   writer thread (flush after every run, so no batching helps). The same for an attempt the safety gate
   refused (one row, then its fix links).
2. Fill: --runs runs (default 100,000) through the same writer, in the batches it forms on its own.
3. search_history: the tool itself (argument validation, worker thread, SQLite FTS5, fusion, pydantic
   result) for a set of queries and filters; p50/p90/max. With --fake-embedder the vector path is timed
   too, using a named FAKE embedder (hashed trigrams, no model): it measures the store's vector cache and
   fusion, not a model. With --registered-embedder the first registered embedder plugin is used.

Usage: python benchmarks/history_bench.py [--runs 100000] [--fake-embedder | --registered-embedder]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the named fake lives with the tests

from mcptrace_core.config import HistorySettings, RunSettings, load_settings
from mcptrace_core.history.records import RefusedAttempt
from mcptrace_core.history.store import HistoryStore
from mcptrace_core.models import MapEntry, TraceError, TraceMap
from mcptrace_core.runs.models import RunSpec, RunStatus, ValidationSummary
from mcptrace_core.runs.run import Run
from mcptrace_core.services import Services
from mcptrace_core.tools import invoke
from tests.history_support import FakeTrigramEmbedder, plugins_with

TRACEPOINTS = [
    "syscalls:sys_enter_openat", "syscalls:sys_enter_read", "syscalls:sys_enter_write", "syscalls:sys_exit_read",
    "syscalls:sys_enter_execve", "syscalls:sys_enter_connect", "syscalls:sys_enter_accept4", "syscalls:sys_enter_close",
    "syscalls:sys_enter_mmap", "syscalls:sys_enter_futex", "syscalls:sys_enter_clone3", "syscalls:sys_enter_kill",
    "sched:sched_switch", "sched:sched_wakeup", "sched:sched_process_exec", "sched:sched_process_exit",
    "sched:sched_process_fork", "block:block_rq_issue", "block:block_rq_complete", "block:block_io_start",
    "net:netif_receive_skb", "net:net_dev_xmit", "skb:kfree_skb", "tcp:tcp_retransmit_skb", "sock:inet_sock_set_state",
    "kmem:kmalloc", "kmem:kfree", "kmem:mm_page_alloc", "exceptions:page_fault_user", "irq:irq_handler_entry",
    "timer:hrtimer_start", "workqueue:workqueue_execute_start", "writeback:writeback_dirty_page", "ext4:ext4_da_write_begin",
    "signal:signal_generate", "task:task_newtask", "raw_syscalls:sys_enter", "raw_syscalls:sys_exit",
]
SHAPES = [
    "tracepoint:{tp} {{ @[comm] = count(); }}",
    "tracepoint:{tp} /pid == {n}/ {{ @[comm, pid] = count(); }}",
    'tracepoint:{tp} {{ printf("%s %d\\n", comm, pid); }}',
    "tracepoint:{tp} {{ @start[tid] = nsecs; }}\ninterval:s:{n} {{ print(@start); clear(@start); }}",
    "tracepoint:{tp} /comm == \"app{n}\"/ {{ @bytes = hist(arg{k}); }}",
    "tracepoint:{tp} {{ @calls[kstack({k})] = count(); }}",
    "tracepoint:{tp} {{ @lat = lhist(nsecs % {n}, 0, 1000, 100); }}",
    "tracepoint:{tp} {{ @c = count(); }}\ninterval:ms:{n} {{ exit(); }}",
]
ERRORS = [
    ("syntax", "syntax error, unexpected identifier, expecting ; or }}"),
    ("probe_not_found", "tracepoint not found: {tp}x"),
    ("semantic", "Undefined or undeclared variable: $y"),
    ("attach", "Error attaching probe: 'kprobe:do_sys_open'"),
    ("unsafe_builtin", "system() is an unsafe function being used in safe mode"),
]
QUERIES = [
    ("files opened by each process", {}),
    ("sched_switch", {}),
    ("tcp retransmit", {"include_failed": False}),
    ("block io latency histogram", {}),
    ("tracepoint not found", {"status": "failed"}),
    ("page fault", {"time_range": "7d"}),
    ("kmalloc bytes hist", {}),
    ("execve", {"limit": 50}),
    ("undeclared variable", {}),
    ("comm pid count", {}),
    ("", {"status": "failed", "limit": 20}),
    ("", {"time_range": "24h"}),
    ("network receive packets", {}),
    ("writeback dirty page", {"include_failed": False, "time_range": "30d"}),
    ("app17", {}),
    ("signal kill", {}),
]


VALIDATED = ValidationSummary("allow", ({
    "rule": "hot-probe-output", "severity": "medium", "message": "printf on a probe that fires often", "line": 1,
    "col": 1, "fix": "count in a map instead", "requires_unsafe": False,
},))


class FakeTrigramEmbedder384(FakeTrigramEmbedder):
    """The tests' FAKE embedder (no model) at MiniLM's width, so the vector cache costs what it would."""

    dimensions = 384


def synthetic_run(rng: random.Random, number: int, limits: RunSettings, lines: int = 20) -> Run:
    shape = rng.choice(SHAPES)
    tp = rng.choice(TRACEPOINTS)
    program = shape.format(tp=tp, n=rng.randint(1, 400), k=rng.randint(0, 5))
    spec = RunSpec(argv=["bpftrace", "-f", "json", "-e", program], backend="bpftrace",
                   label=program.splitlines()[0][:120], timeout_s=10.0, program=program,
                   source=f"example:core/{tp}" if rng.random() < 0.3 else None, validation=VALIDATED)
    run = Run(f"{number:012x}", spec, limits)
    for index in range(lines):
        run.add_line(f"{tp} event {index} comm=app{index % 7} pid={1000 + index}")
    run.set_map(TraceMap(name="@", kind="value", entries=[MapEntry(key=f"app{i}", value=i * 3) for i in range(10)]))
    if rng.random() < 0.15:
        category, message = rng.choice(ERRORS)
        run.errors = [TraceError(category=category, message=message.format(tp=tp))]  # type: ignore[arg-type]
        run.status, run.exit_code = RunStatus.failed, 1
    else:
        run.status, run.exit_code = rng.choice([RunStatus.completed, RunStatus.stopped, RunStatus.timed_out]), 0
    return run


def stats_ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000
    return (f"median {statistics.median(ordered) * 1000:.3f} ms, p90 {pick(0.9):.3f} ms, p99 {pick(0.99):.3f} ms, "
            f"max {ordered[-1] * 1000:.3f} ms (n={len(ordered)})")


def bench_recording(store: HistoryStore, limits: RunSettings, count: int) -> None:
    rng = random.Random(1)
    runs = [synthetic_run(rng, 10**9 + n, limits, lines=200) for n in range(count)]
    on_loop, committed = [], []
    for run in runs:
        begin = time.perf_counter()
        store.run_started(run)
        store.run_ended(run)
        queued = time.perf_counter()
        store.flush()
        on_loop.append(queued - begin)
        committed.append(time.perf_counter() - begin)
    print(f"record a run, on the event loop (start + end, 200 lines, 1 map): {stats_ms(on_loop)}")
    print(f"record a run, until committed by the writer (flush each run):   {stats_ms(committed)}")
    on_loop, committed = [], []
    for run in runs:
        refused = refusal(run)
        begin = time.perf_counter()
        store.attempt_refused(refused)
        queued = time.perf_counter()
        store.flush()
        on_loop.append(queued - begin)
        committed.append(time.perf_counter() - begin)
    print(f"record a refused attempt, on the event loop (2 findings):       {stats_ms(on_loop)}")
    print(f"record a refused attempt, until committed (with fix links):     {stats_ms(committed)}")


def refusal(run: Run) -> RefusedAttempt:
    """A refused attempt like the gate records: a validation error and two findings, no process."""
    findings = tuple(
        {"rule": rule, "severity": "high", "message": f"{rule} in {run.spec.label}", "line": 1, "col": 1,
         "fix": "trace a tracepoint instead", "requires_unsafe": False}
        for rule in ("hot-probe-output", "unsafe-builtin")
    )
    error = TraceError(category="syntax", message="syntax error, unexpected identifier", line=1, col=30)
    return RefusedAttempt(
        backend="bpftrace", program=run.spec.program or "", reason="invalid", message=error.message, errors=(error,),
        validation=ValidationSummary("confirm", findings), parameters={"tool": "exec_program", "policies": ["standard"]},
    )


def fill(store: HistoryStore, limits: RunSettings, count: int) -> None:
    rng = random.Random(2)
    begin = time.perf_counter()
    now = time.time()
    for number in range(count):
        run = synthetic_run(rng, number, limits)
        run.started_at = now - (count - number) * 30  # one run every 30 s, the newest now
        store.run_started(run)
        store.run_ended(run)
        if number % 5000 == 4999:
            store.flush(None)
    store.flush(None)
    elapsed = time.perf_counter() - begin
    print(f"filled {count} runs in {elapsed:.1f} s ({count / elapsed:.0f} runs/s, file "
          f"{store.path.stat().st_size / 1e6:.0f} MB + WAL)")


async def bench_search(services: Services, rounds: int, label: str) -> None:
    """Wall time per search, and the process's CPU time for it (less sensitive to other load on the machine)."""
    spec = services.registry.get("tool", "search_history")
    samples: dict[str, list[float]] = {}
    cpu: list[float] = []
    for round_ in range(rounds + 1):
        for query, filters in QUERIES:
            begin, begin_cpu = time.perf_counter(), time.process_time()
            result = await invoke(services, spec, {"query": query, **filters})
            elapsed, elapsed_cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
            if round_ > 0:  # the first round warms caches (and, with an embedder, embeds queued texts)
                samples.setdefault(query or f"(recent {filters})", []).append(elapsed)
                cpu.append(elapsed_cpu)
            assert result.runs or query in ("app17",), (query, filters)  # type: ignore[attr-defined]
    every = [sample for values in samples.values() for sample in values]
    print(f"search_history [{label}] over {services.history.count()} runs: {stats_ms(every)}")
    print(f"  CPU time per search: median {statistics.median(cpu) * 1000:.1f} ms; load average {os.getloadavg()[0]:.1f}")
    slowest = sorted(samples.items(), key=lambda item: -statistics.median(item[1]))[:3]
    print("  slowest queries: " + "; ".join(f"{q!r} {statistics.median(v) * 1000:.1f} ms" for q, v in slowest))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--record-samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--fake-embedder", action="store_true", help="also time the vector path with a FAKE embedder")
    which.add_argument("--registered-embedder", action="store_true", help="also time it with the registered embedder")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mcptrace-history-bench-") as tmp:
        path = Path(tmp) / "history.sqlite3"
        settings = load_settings(Path(tmp) / "absent.toml", {"history": {"path": str(path), "max_runs": 0},
                                                             "logging": {"level": "warning"}})
        store = HistoryStore.open(HistorySettings(path=path, max_runs=0))
        bench_recording(store, settings.runs, options.record_samples)
        fill(store, settings.runs, options.runs)
        store.close()

        services = Services.create(settings, plugins_with(None))  # words only first, whatever is installed
        await bench_search(services, options.rounds, "words only")
        await services.aclose()

        if options.fake_embedder or options.registered_embedder:
            plugins = None
            if options.fake_embedder:
                fake = FakeTrigramEmbedder384()
                settings = settings.model_copy(update={"search": settings.search.model_copy(update={"embedder": fake.name})})
                plugins = plugins_with(fake)
            services = Services.create(settings, plugins)
            embedder, off = services.embedder()
            if embedder is None:
                sys.exit(off)
            history = services.history
            begin = time.perf_counter()
            while history.using_connection(lambda conn: history.vectors.catch_up(conn, embedder)):
                pass
            texts = history.read("SELECT count(*) FROM vectors")[0][0]
            print(f"embedded {texts} distinct run texts with {embedder.name} in {time.perf_counter() - begin:.1f} s")
            await bench_search(services, options.rounds, f"words+meaning, {embedder.name}")
            await services.aclose()


if __name__ == "__main__":
    asyncio.run(main())
