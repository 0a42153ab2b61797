"""Speed and ranking quality of discover_probes over this host's full probe catalog.

Speed: cold = a fresh process's first call (plugins loaded, knowledge indexed, host listed; the per-boot
probe-type cache and the vector cache on disk as a normal second start finds them), warm = calls after one
pass over the goals, through the tool layer (argument validation and output model included), p50/p99. The
stdio line is the same call through a live `mcptrace serve`, JSON-RPC included.
Quality: recall@k on a development set of questions with regexes of relevant probes (the shared eval
set by default), counting a hit when any of the first k probes fully matches a relevant pattern.

Modes: semantic+lexical with the configured embedder (search.embedder, the ONNX MiniLM by default) and,
with --lexical, lexical-only as well (the embedder plugins blocked).

Usage: python benchmarks/discover_bench.py [--rounds 10] [--lexical] [--eval PATH] [--no-stdio]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import StdioServer

ROOT = Path(__file__).resolve().parent.parent
GOALS = [
    "why are disk writes slow",
    "tcp retransmissions per remote host",
    "who is killing my process",
    "off-cpu time of a service",
    "memory leak in a C program",
    "page cache misses per file",
    "which commands do users run",
    "sched_switch",
    "packet drops and their reason",
    "kernel lock contention",
    "time spent in interrupts",
    "fsync latency on ext4",
    "dns lookups of a program",
    "oom kill victims",
    "new tcp connections",
    "io_uring request latency",
    "container creation",
    "cpu frequency changes",
    "thermal throttling",
    "who loads bpf programs",
]
class EmbeddingClock:
    """Times the embedder's calls, to tell discovery's own work from the embedder plugin's."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self.name, self.spent, self._embed = embedder.name, 0.0, embedder.embed
        embedder.embed = self._timed

    def _timed(self, texts):  # type: ignore[no-untyped-def]
        begin = time.perf_counter()
        try:
            return self._embed(texts)
        finally:
            self.spent += time.perf_counter() - begin


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def services(semantic: bool):  # type: ignore[no-untyped-def]
    from mcptrace_core.config import load_settings
    from mcptrace_core.plugins import build_plugin_manager
    from mcptrace_core.services import Services

    settings = load_settings(Path("/nonexistent/mcptrace-bench.toml"))
    disabled = [*settings.plugins.disable]
    if not semantic:
        pm = build_plugin_manager(disabled)
        disabled += [name for name, plugin in pm.list_name_plugin() if hasattr(plugin, "mcptrace_embedders")]
    return Services.create(settings, build_plugin_manager(disabled))


async def measure(semantic: bool, rounds: int, eval_path: Path | None) -> None:
    from mcptrace_core.tools import invoke

    started = time.perf_counter()
    svc = services(semantic)
    spec = svc.registry.get("tool", "discover_probes")
    first = await invoke(svc, spec, {"goal": GOALS[0]})
    cold = time.perf_counter() - started
    for goal in GOALS:  # one pass fills the per-process caches (format files, binaries' symbols)
        await invoke(svc, spec, {"goal": goal})
    embedding = EmbeddingClock(svc.registry.embedders[0]) if svc.registry.embedders else None
    samples, own = [], []
    for _ in range(rounds):
        for goal in GOALS:
            if embedding:
                embedding.spent = 0.0
            begin = time.perf_counter()
            await invoke(svc, spec, {"goal": goal})
            samples.append(time.perf_counter() - begin)
            own.append(samples[-1] - (embedding.spent if embedding else 0.0))
    print(
        f"mode {first.mode}: cold {cold * 1000:.0f} ms (services + first call); warm p50 "
        f"{statistics.median(samples) * 1000:.1f} ms, p99 {percentile(samples, 0.99) * 1000:.1f} ms (n={len(samples)})"
    )
    if embedding:
        print(f"  without embedding the goal ({embedding.name}): p50 {statistics.median(own) * 1000:.1f} ms, "
              f"p99 {percentile(own, 0.99) * 1000:.1f} ms")
    if eval_path is not None and eval_path.exists():
        await recall(svc, spec, eval_path)


def relevant(name: str, patterns: list[str]) -> bool:
    """Whether a probe matches one of the case's patterns (regexes; aliases and return probes count)."""
    from mcptrace_core.search.probes import family

    return any(re.fullmatch(family(pattern), family(name)) for pattern in patterns)


async def recall(svc, spec, eval_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mcptrace_core.tools import invoke

    cases = json.loads(eval_path.read_text())["cases"]
    hits = {1: 0, 5: 0, 10: 0}
    misses = []
    for case in cases:
        result = await invoke(svc, spec, {"goal": case["q"], "limit": 10})
        ranked = sorted((p for g in result.groups for p in g.probes), key=lambda p: -p.score)
        names = [probe.name for probe in ranked]
        for k in hits:
            hits[k] += any(relevant(name, case["p"]) for name in names[:k])
        if not any(relevant(name, case["p"]) for name in names[:5]):
            misses.append(f"{case['q']!r}: got {names[:3]}")
    total = len(cases)
    print(
        "  recall@1 {:.2f}, @5 {:.2f}, @10 {:.2f} over {} questions ({})".format(
            hits[1] / total, hits[5] / total, hits[10] / total, total, eval_path
        )
    )
    for miss in misses:
        print("  miss@5", miss)


def stdio(rounds: int) -> None:
    server = StdioServer()
    server.initialize()
    started = time.perf_counter()
    server.request("tools/call", {"name": "discover_probes", "arguments": {"goal": GOALS[0]}})
    first = time.perf_counter() - started
    for goal in GOALS:
        server.request("tools/call", {"name": "discover_probes", "arguments": {"goal": goal}})
    samples = []
    for _ in range(rounds):
        for goal in GOALS:
            begin = time.perf_counter()
            reply = server.request("tools/call", {"name": "discover_probes", "arguments": {"goal": goal}})
            samples.append(time.perf_counter() - begin)
            assert not reply["result"].get("isError"), reply
    server.close()
    print(
        f"stdio `mcptrace serve`: first call {first * 1000:.0f} ms; warm p50 {statistics.median(samples) * 1000:.1f} ms, "
        f"p99 {percentile(samples, 0.99) * 1000:.1f} ms (n={len(samples)})"
    )


def _shared_eval() -> Path | None:
    """The shared development set, beside the checkout (CI) or beside the worktrees (development)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        path = base / "shared" / "eval" / "dev_queries.json"
        if path.exists():
            return path
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lexical", action="store_true", help="also measure without an embedder")
    parser.add_argument("--words-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--eval", type=Path, default=_shared_eval(), help="questions with relevant probe patterns"
    )
    parser.add_argument("--no-stdio", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(measure(not args.words_only, args.rounds, args.eval))
        return
    # Each mode in a fresh process, so that "cold" is a real first call.
    for words_only in (True, False) if args.lexical else (False,):
        command = [sys.executable, __file__, "--child", "--rounds", str(args.rounds)]
        command += ["--eval", str(args.eval)] if args.eval else []
        subprocess.run(command + (["--words-only"] if words_only else []), check=True)
    if not args.no_stdio:
        stdio(args.rounds)


if __name__ == "__main__":
    main()
