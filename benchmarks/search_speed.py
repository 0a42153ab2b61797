"""How fast search is: index build, cold first query (fresh process), warm query latency, and usearch modes.

    python benchmarks/search_speed.py [--repeat N] [--toml-dir DIR]

Every cold measurement runs in a new Python process with its own cache directory, as a freshly
started `mcptrace serve` would; warm latency is the 40 development questions asked N times in one
process after the index is ready.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

COLD = """
import asyncio, json, sys, time
from pathlib import Path
started = time.perf_counter()
sys.path.insert(0, {here!r})
from search_eval import TomlDirPlugin
from mcptrace_core.config import load_settings
from mcptrace_core.logging import configure_logging
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.services import Services

async def main():
    settings = load_settings()
    configure_logging("warning")
    extra = [("eval-toml-dir", TomlDirPlugin(Path({toml_dir!r})))] if {toml_dir!r} else []
    services = Services.create(settings, build_plugin_manager(settings.plugins.disable, plugins=extra))
    loaded = time.perf_counter()
    first, first_cpu = time.perf_counter(), time.process_time()
    index = await services.search.index()
    await services.search.search("which files do processes open", kinds=("example",), limit=5)
    done, done_cpu = time.perf_counter(), time.process_time()
    warm = []
    warm_cpu = time.process_time()
    for query in {queries!r}:
        t = time.perf_counter()
        await services.search.search(query, kinds=("example",), limit=5)
        warm.append(time.perf_counter() - t)
    warm_cpu = (time.process_time() - warm_cpu) / len(warm)
    print(json.dumps({{"startup_s": loaded - started, "first_query_s": done - first,
                      "first_query_cpu_s": done_cpu - first_cpu, "from_cache": index.info.from_cache,
                      "capabilities": index.info.capabilities, "warm_s": warm, "warm_cpu_s": warm_cpu}}))

asyncio.run(main())
"""


def cold_run(cache: Path, queries: list[str], toml_dir: str | None) -> dict:
    code = COLD.format(here=str(HERE), queries=queries, toml_dir=toml_dir or "")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def usearch_modes(dimensions: int = 384, rows: int = 10_000, queries: int = 200) -> dict:
    """Exact search against HNSW (expansion_search 256) on clustered vectors like sentence embeddings."""
    import onnxruntime  # noqa: F401  (the project's import order; usearch is pinned so either order works)
    import numpy as np
    from usearch.index import Index

    generator = np.random.default_rng(7)
    centres = generator.normal(size=(200, dimensions))
    data = centres[generator.integers(0, 200, rows)] + 0.6 * generator.normal(size=(rows, dimensions))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    probes = data[generator.integers(0, rows, queries)] + 0.05 * generator.normal(
        size=(queries, dimensions)
    ).astype(np.float32)
    probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
    index = Index(ndim=dimensions, metric="ip", dtype="f32", expansion_search=256)
    started = time.perf_counter()
    index.add(np.arange(rows), data)
    build = time.perf_counter() - started
    truth = np.argsort(-(probes @ data.T), axis=1)[:, :10]
    report = {"rows": rows, "hnsw_build_s": round(build, 2)}
    for name, exact in (("exact", True), ("hnsw", False)):
        found, timings = [], []
        for vector in probes:
            t = time.perf_counter()
            matches = index.search(vector, 10, exact=exact)
            timings.append(time.perf_counter() - t)
            found.append(matches.keys)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        report[name] = {
            "p50_ms": round(statistics.median(timings) * 1000, 3),
            "recall_at_10": round(recall, 3),
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="times each development question is asked warm")
    parser.add_argument("--toml-dir", help="also index the example TOML files below this directory")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from search_eval import default_queries

    queries = default_queries()
    if queries is None:
        parser.error("shared/eval/dev_queries.json is not beside this checkout")
    questions = [case["q"] for case in json.loads(queries.read_text())["cases"]] * args.repeat
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        toml_dir = None
        if args.toml_dir:  # a snapshot, so that both runs see the same examples
            toml_dir = str(shutil.copytree(args.toml_dir, Path(tmp) / "examples"))
        building = cold_run(cache, questions, toml_dir)
        loading = cold_run(cache, questions, toml_dir)
    assert not building["from_cache"]
    # The second process may embed again: what the first learnt of the host (its BCC tools, in the
    # background) can add capabilities; the line below says whether it loaded the index from the cache.
    warm = loading["warm_s"] + building["warm_s"]
    warm_cpu = (loading["warm_cpu_s"] + building["warm_cpu_s"]) / 2
    exact, hnsw = (modes := usearch_modes())["exact"], modes["hnsw"]
    built, cached = building, loading
    lines = [
        f"capabilities indexed: {built['capabilities']}",
        f"load average at start: {load:.1f} on {os.cpu_count()} CPUs "
        "(wall times grow with it, CPU times less)",
        f"plugins + services start: {cached['startup_s']:.2f} s",
        f"cold first query, empty cache (embeds everything): {built['first_query_s']:.2f} s "
        f"({built['first_query_cpu_s']:.1f} s CPU)",
        f"cold first query, second process ({'index cached' if cached['from_cache'] else 'index embedded again: the host added capabilities'}): "
        f"{cached['first_query_s']:.2f} s ({cached['first_query_cpu_s']:.1f} s CPU)",
        "(the shipped packs' vectors are shipped: an empty cache embeds only what the host adds)",
        f"warm query over {len(warm)} queries: p50 {statistics.median(warm) * 1000:.1f} ms, "
        f"p95 {percentile(warm, 0.95) * 1000:.1f} ms, max {max(warm) * 1000:.1f} ms; "
        f"{warm_cpu * 1000:.1f} ms CPU",
        f"usearch, {modes['rows']} vectors: exact p50 {exact['p50_ms']} ms "
        f"(recall@10 {exact['recall_at_10']}), HNSW ef=256 p50 {hnsw['p50_ms']} ms "
        f"(recall@10 {hnsw['recall_at_10']}), HNSW build {modes['hnsw_build_s']} s",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
