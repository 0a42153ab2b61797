"""How well search_examples answers the development questions (shared/eval/dev_queries.json).

Scores recall@1, recall@3 and MRR (over the top 10) with the set's own matching rule: a result is
relevant when any probe it attaches fully matches any of the case's patterns, after expanding probe
aliases and counting kretprobe as kprobe and uretprobe as uprobe. Then, for every case marked
``here``, the top result with runnable_only must validate (``bpftrace -d``, or validate_program when
that tool is loaded) and run for one second.

Runs against whatever packs are installed; ``--toml-dir`` adds a directory of example TOML files as an
extra pack (to try a pack before it is installed).

    python benchmarks/search_eval.py [--queries FILE] [--skip-runs] [--toml-dir DIR] [--json] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from mcptrace_core import hookimpl
from mcptrace_core.config import load_settings
from mcptrace_core.logging import configure_logging
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.models import Example
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.search import probes as probe_specs
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError, invoke

RANKS_SCORED = 10
RUN_SECONDS = 1.0
ATTACH_TIMEOUT_S = 60.0


def default_queries() -> Path | None:
    """shared/eval/dev_queries.json beside the checkout (or beside one of its parents)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "eval" / "dev_queries.json"
        if candidate.exists():
            return candidate
    return None


def relevant(example: Example, patterns: list[str]) -> bool:
    """Any probe it attaches fully matches any pattern, aliases expanded and return probes as entry probes."""
    compiled = [re.compile(probe_specs.family(pattern)) for pattern in patterns]
    return any(regex.fullmatch(probe_specs.family(probe)) for probe in example.probes for regex in compiled)


class TomlDirPack(ExamplePack):
    """Every *.toml below a directory, one example each (fields Example does not know are ignored)."""

    description = "examples read from a directory for evaluation"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"dir:{root.name}"

    def examples(self) -> list[Example]:
        known = set(Example.model_fields)
        found = []
        for path in sorted(self.root.rglob("*.toml")):
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            if "program" not in data:
                continue
            fields = {key: value for key, value in data.items() if key in known}
            found.append(
                Example.model_validate(
                    {**fields, "source": fields.get("source") or "mcptrace", "pack": self.name}
                )
            )
        return found


class TomlDirPlugin:
    def __init__(self, root: Path) -> None:
        self.root = root

    @hookimpl
    def mcptrace_example_packs(self) -> list[ExamplePack]:
        return [TomlDirPack(self.root)]


async def validate(services: Services, program: str) -> str | None:
    """None when the program validates; else why not."""
    try:
        result = await invoke(services, services.registry.get("tool", "validate_program"), {"program": program})
    except ToolError as error:
        return str(error)
    return None if result.valid else "; ".join(error.message for error in result.errors) or "invalid"


async def run_one_second(services: Services, program: str) -> str | None:
    """None when the program, once its probes are attached, runs for a second and stops cleanly.

    The second is counted from the attachment, not from the start: compiling takes a variable time
    on a busy machine, and a program interrupted before it attached has not run.
    """
    tools = {
        name: services.registry.get("tool", name) for name in ("exec_program", "get_result", "stop_execution")
    }
    try:
        started = (
            await invoke(services, tools["exec_program"], {"program": program, "timeout_s": ATTACH_TIMEOUT_S})
        ).model_dump()
        execution = {"execution_id": started["execution_id"]}
        result = started
        while result["attached_probes"] is None and result["status"] == "running":
            result = (
                await invoke(
                    services,
                    tools["get_result"],
                    {**execution, "offset": result["total_lines"], "limit": 1, "wait_s": 0.2},
                )
            ).model_dump()
        if result["status"] == "running":
            await asyncio.sleep(RUN_SECONDS)
            result = (await invoke(services, tools["stop_execution"], execution)).model_dump()["execution"]
    except ToolError as error:
        return str(error)
    if result["status"] in ("stopped", "completed") and not result["errors"] and result["exit_code"] == 0:
        return None
    return f"{result['status']} (exit {result['exit_code']}): {result['error'] or ''}".strip()


async def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    cases = json.loads(Path(args.queries).read_text(encoding="utf-8"))["cases"]
    settings = load_settings()
    configure_logging("warning")  # logs to stderr; stdout is the report
    extra = [("eval-toml-dir", TomlDirPlugin(Path(args.toml_dir)))] if args.toml_dir else []
    services = Services.create(settings, build_plugin_manager(settings.plugins.disable, plugins=extra))
    engine = services.search
    started = time.perf_counter()
    index = await engine.index()
    examples = [c for c in index.capabilities if c.kind == "example"]
    report: dict[str, Any] = {
        "queries": str(args.queries),
        "examples": len(examples),
        "packs": sorted({c.source for c in examples}),
        "index_seconds": round(time.perf_counter() - started, 2),
        "note": index.info.note,
        "cases": [],
    }
    reciprocal, at1, at3 = 0.0, 0, 0
    for case in cases:
        hits = await engine.search(case["q"], kinds=("example",), limit=RANKS_SCORED)
        ranks = [n for n, hit in enumerate(hits, 1) if relevant(hit.capability.item, case["p"])]
        rank = ranks[0] if ranks else None
        reciprocal += 1 / rank if rank else 0.0
        at1 += rank == 1
        at3 += rank is not None and rank <= 3
        entry: dict[str, Any] = {
            "q": case["q"],
            "rank": rank,
            "top": [f"{h.capability.source}/{h.capability.id}" for h in hits[:3]],
        }
        if case.get("here") and not args.skip_runs:
            entry["here"] = await check_here(services, case)
        report["cases"].append(entry)
    count = len(cases) or 1
    report.update(
        recall_at_1=round(at1 / count, 3), recall_at_3=round(at3 / count, 3), mrr=round(reciprocal / count, 3)
    )
    here = [entry["here"] for entry in report["cases"] if "here" in entry]
    if here:
        report["here"] = {
            "cases": len(here),
            "ran": sum(1 for h in here if h["ok"]),
            "relevant_top": sum(1 for h in here if h.get("relevant")),
            "exempt": sum(1 for h in here if h.get("exempt")),
        }
    await services.aclose()
    return report


async def check_here(services: Services, case: dict[str, Any]) -> dict[str, Any]:
    hits = await services.search.search(case["q"], kinds=("example",), limit=1, runnable_only=True)
    if not hits:
        return {"ok": False, "problem": "no runnable result"}
    example: Example = hits[0].capability.item
    outcome: dict[str, Any] = {
        "example": f"{example.pack}/{example.id}",
        "relevant": relevant(example, case["p"]),
    }
    if example.run_exception:
        return {**outcome, "ok": False, "exempt": True, "problem": f"not run: {example.run_exception}"}
    problem = await validate(services, example.program) or await run_one_second(services, example.program)
    return {**outcome, "ok": problem is None, **({"problem": problem} if problem else {})}


def print_report(report: dict[str, Any], verbose: bool) -> None:
    print(
        f"{report['examples']} examples from {', '.join(report['packs']) or 'no pack'}; "
        f"index ready in {report['index_seconds']} s"
    )
    if report["note"]:
        print(f"note: {report['note']}")
    for case in report["cases"]:
        here = case.get("here")
        flag = (
            ""
            if here is None
            else (
                "  run ok"
                if here["ok"]
                else f"  RUN PROBLEM {here.get('example', '')}: {here.get('problem')}"
            )
        )
        if verbose or case["rank"] != 1 or (here and not here["ok"]):
            print(f"  rank {case['rank'] or '-':>2}  {case['q']}{flag}")
            if case["rank"] != 1:
                print(f"           top: {', '.join(case['top'])}")
    print(
        f"recall@1 {report['recall_at_1']:.3f}  recall@3 {report['recall_at_3']:.3f}  MRR {report['mrr']:.3f}"
    )
    if "here" in report:
        here = report["here"]
        print(
            f"here: top runnable_only result validated and ran {RUN_SECONDS:g} s "
            f"in {here['ran']}/{here['cases']} cases "
            f"(relevant in {here['relevant_top']}, exempt by run_exception {here['exempt']})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", default=default_queries(), help="the evaluation set (JSON)")
    parser.add_argument("--skip-runs", action="store_true", help="score ranking only; do not validate or run")
    parser.add_argument("--toml-dir", help="also index the example TOML files below this directory")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON document")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every case, not only the misses")
    args = parser.parse_args()
    if args.queries is None:
        parser.error("shared/eval/dev_queries.json is not beside this checkout: pass --queries FILE")
    report = asyncio.run(evaluate(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
