"""Commands that search: `mcptrace search` and `mcptrace index build`."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.search.capability import prepare
from mcptrace_core.search.engine import SearchIndex
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError


LINE_EVERY_S = 2.0
"""Without a terminal, a progress line at most this often (and at the start and the end)."""


@contextlib.contextmanager
def _progress_bar(label: str = "embedding") -> Iterator[Any]:
    """A progress callback for stderr once work starts (a cached index shows nothing): a bar on a terminal,
    otherwise lines (a bar drawn into a pipe or a log file shows only its label until the end)."""
    state: dict[str, Any] = {}
    terminal = sys.stderr.isatty()

    async def report(done: int, total: int) -> None:
        if not terminal:
            now = time.monotonic()
            if done in (0, total) or now - state.get("said", 0.0) >= LINE_EVERY_S:
                state["said"] = now
                click.echo(f"{label}: {done}/{total}", err=True)
            return
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


async def _index(services: Services, rebuild: bool = False) -> SearchIndex:
    with _progress_bar() as report:
        return await services.search.index(progress=report, rebuild=rebuild)


async def _warm_tools(services: Services, rebuild: bool) -> dict[str, str]:
    """Do now what each tool would do on its first call (ToolSpec.warm): one line per tool.

    A tool that fails to warm is reported, not fatal: it will try again on its first call.
    """
    warmed = {}
    for spec in services.registry.tools:
        if spec.warm is None:
            continue
        with _progress_bar(f"embedding for {spec.name}") as report:
            try:
                warmed[spec.name] = await spec.warm(services, report, rebuild)
            except Exception as error:  # isolation boundary: one plugin's failure leaves the rest warm
                warmed[spec.name] = f"not ready: {type(error).__name__}: {error}"
    return warmed


@click.command()
@click.argument("query")
@click.option(
    "--limit", type=click.IntRange(1, 50), default=5, show_default=True, help="Most examples to show."
)
@click.option("--runnable-only", is_flag=True, help="Only examples that can run on this host.")
@click.option("--tag", "tags", multiple=True, help="Only examples with this tag or category (repeatable).")
@json_option
@click.pass_obj
@run_async
async def search(
    state: CliState, query: str, limit: int, runnable_only: bool, tags: tuple[str, ...], as_json: bool
) -> None:
    """Find example programs by meaning or by name, and whether each can run here.

    \b
    Examples:
      mcptrace search "latency of disk I/O"
      mcptrace search opensnoop --limit 3
      mcptrace search "who opens files" --runnable-only --json
    """
    services = Services.create(state.settings())
    try:
        await _index(services)
        result = await call(
            services,
            "search_examples",
            query=query,
            limit=limit,
            runnable_only=runnable_only,
            tags=list(tags),
        )
    except ToolError as error:
        fail(str(error), as_json)
        return
    emit(result.model_dump(mode="json"), result.to_text(), as_json)


@click.group()
def index() -> None:
    """The search index over examples, templates, BCC tools and MCP tools."""


@index.command()
@click.option("--force", is_flag=True, help="Embed everything again even when the cache is up to date.")
@json_option
@click.pass_obj
@run_async
async def build(state: CliState, force: bool, as_json: bool) -> None:
    """Build the search index now (it is otherwise built on the first search), with a progress bar.

    First the providers that learn their capabilities slowly learn them (the BCC tools installed
    here: each is run once per boot, ~20 s the first time), so the index has every one of them; a
    search alone reads only what is already learned. The index is cached in the user cache directory
    under a hash of every indexed text and the model, so it is rebuilt by itself when a pack changes;
    --force rebuilds it regardless. Tools that index on their first call (discover_probes embeds its
    probe documentation) do it now as well.

    \b
    Example:
      mcptrace index build
    """
    services = Services.create(state.settings())
    with _progress_bar("learning installed tools") as report:
        await prepare(services.registry, report)
    built = await _index(services, rebuild=force)
    warmed = await _warm_tools(services, rebuild=force)
    info = built.info
    examples = [row for row, c in enumerate(built.capabilities) if c.kind == "example"]
    runnable = sum(1 for row in examples if built.availability[row].runnable)
    data = {
        **asdict(info), "examples_runnable_here": runnable, "host_problem": built.host.problem, "tools": warmed,
    }
    source = "loaded from cache" if info.from_cache else f"built ({info.embedded} texts embedded)"
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(info.by_kind.items()))
    lines = [
        f"search index {source} in {info.seconds:.2f} s: {info.capabilities} capabilities ({kinds})",
        f"model: {info.model_id or 'none'}",
        f"examples runnable here: {runnable} of {len(examples)}",
        *(f"{tool}: {line}" for tool, line in warmed.items()),
    ]
    if info.note:
        lines.append(f"note: {info.note}")
    if built.host.problem:
        lines.append(f"host facts unavailable: {built.host.problem}")
    emit(data, "\n".join(lines), as_json)
