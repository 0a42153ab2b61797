"""How long loading example packs takes: what search and `mcptrace examples` pay before answering.

    python benchmarks/packs_load.py [--repeat N]

Measures (median of N runs, each on fresh objects so nothing is cached): reading the core pack's 200+
TOML files into validated examples, describing the host's installed *.bt tools, building the plugin
registry (which reads only each pack's pack.toml), and `mcptrace examples list --json` next to the CLI's
own start-up (`mcptrace --help`), which it includes.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median_ms(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat

    from mcptrace_pack_host.tools import HostToolsPack

    from mcptrace_core.config import Settings
    from mcptrace_core.packs import TomlExamplePack
    from mcptrace_core.plugins import build_plugin_manager
    from mcptrace_core.registry import build_registry

    ms, examples = median_ms(lambda: TomlExamplePack.from_package("mcptrace_pack_core").examples(), repeat)
    each = ms / len(examples)
    print(f"core pack: {len(examples)} examples loaded and validated in {ms:.1f} ms ({each:.2f} ms each)")
    ms, examples = median_ms(lambda: HostToolsPack().examples(), repeat)
    print(f"host pack: {len(examples)} installed tools described in {ms:.1f} ms")
    ms, registry = median_ms(lambda: build_registry(build_plugin_manager(), Settings()), repeat)
    print(f"plugin registry with {len(registry.example_packs)} example packs built in {ms:.1f} ms")
    mcptrace = str(Path(sys.executable).with_name("mcptrace"))
    for args, what in ((["--help"], "CLI start-up alone"), (["examples", "list", "--json"], "all packs")):
        run = functools.partial(subprocess.run, [mcptrace, *args], capture_output=True, check=True)
        ms, _ = median_ms(run, max(3, repeat // 2))
        print(f"`mcptrace {' '.join(args)}` ({what}, new process): {ms:.0f} ms")


if __name__ == "__main__":
    main()
