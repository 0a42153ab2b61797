"""`mcptrace history list|show|search|export|prune`: the runs this host remembers."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.history.filters import TIME_RANGE_HELP, RunFilter
from mcptrace_core.history.records import REFUSED, HistoryStatus, RunRecord, when
from mcptrace_core.history.store import HistoryStore, HistoryUnavailable
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError

STATUSES = list(HistoryStatus.__args__)  # type: ignore[attr-defined]


def filter_options(function: Any) -> Any:
    function = click.option("--since", "time_range", default=None, help=f"Only runs started in {TIME_RANGE_HELP}.")(function)
    function = click.option("--failed/--no-failed", "include_failed", default=True, show_default=True,
                            help="Include runs that failed, were killed or interrupted, and refused attempts.")(function)
    function = click.option("--status", type=click.Choice(STATUSES), default=None, help="Only runs that ended this way.")(function)
    return function


def _filter(status: str | None, include_failed: bool, time_range: str | None, as_json: bool) -> RunFilter:
    try:
        return RunFilter(status=status, include_failed=include_failed, time_range=time_range)
    except ValueError as error:
        fail(str(error), as_json)


def _store(state: CliState, as_json: bool) -> HistoryStore:
    store = HistoryStore.open(state.settings().history)
    if not store.available:
        fail(store.problem or "history unavailable", as_json)
    return store


@click.group()
def history() -> None:
    """The runs this host remembers: every program or tool run, kept across restarts.

    \b
    Examples:
      mcptrace history list --since 24h
      mcptrace history search 'open files by process' --no-failed
      mcptrace history show 3f9a1c2b7d10
      mcptrace history export --output runs.jsonl
      mcptrace history prune --max-age-days 30
    """


@history.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Most runs to show.")
@json_option
@click.pass_obj
def list_runs(state: CliState, status: str | None, include_failed: bool, time_range: str | None, limit: int,
              as_json: bool) -> None:
    """List past runs, newest first."""
    run_filter = _filter(status, include_failed, time_range, as_json)
    store = _store(state, as_json)
    try:
        records = store.recent(run_filter, limit)
    except HistoryUnavailable as error:
        fail(str(error), as_json)
    finally:
        store.close()
    lines = [
        f"{r.id} {when(r.started_at)} {r.status:<11} {r.duration_s or 0:7.2f}s {r.total_lines:>7} lines  {r.label}"
        for r in records
    ]
    emit({"runs": [_brief(r) for r in records]}, "\n".join(lines) or "no runs recorded", as_json)


@history.command()
@click.argument("execution_id")
@json_option
@click.pass_obj
def show(state: CliState, execution_id: str, as_json: bool) -> None:
    """Show one past run: program, parameters, errors, fix links, the kept output and maps."""
    store = _store(state, as_json)
    try:
        record = store.load(execution_id)
    except HistoryUnavailable as error:
        fail(str(error), as_json)
    finally:
        store.close()
    if record is None:
        fail(f"no run {execution_id!r} in the history ({store.path}); `mcptrace history list` shows the ids", as_json)
    emit(record.model_dump(mode="json"), _describe(record), as_json)


@history.command()
@click.argument("query")
@filter_options
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Most runs to show.")
@json_option
@click.pass_obj
@run_async
async def search(state: CliState, query: str, status: str | None, include_failed: bool, time_range: str | None,
                 limit: int, as_json: bool) -> None:
    """Search past runs by words and meaning (the search_history tool)."""
    services = Services.create(state.settings())
    try:
        result = await call(services, "search_history", query=query, status=status, include_failed=include_failed,
                            time_range=time_range, limit=limit)
    except ToolError as error:
        fail(str(error), as_json)
    finally:
        await services.aclose()
    emit(result.model_dump(mode="json"), result.to_text(), as_json)


@history.command()
@filter_options
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write JSON Lines (one run per line) to this file instead of stdout.")
@json_option
@click.pass_obj
def export(state: CliState, status: str | None, include_failed: bool, time_range: str | None, output: str | None,
           as_json: bool) -> None:
    """Export past runs, oldest first, as JSON Lines; with --json, as one JSON document."""
    run_filter = _filter(status, include_failed, time_range, as_json)
    store = _store(state, as_json)
    try:
        records = store.iter_records(run_filter)
        if as_json and output is None:
            emit({"runs": [record.model_dump(mode="json") for record in records]}, "", as_json=True)
            return
        count = 0
        with open(output, "w", encoding="utf-8") if output else nullcontext(sys.stdout) as handle:
            for record in records:
                handle.write(record.model_dump_json() + "\n")
                count += 1
    except HistoryUnavailable as error:
        fail(str(error), as_json)
    finally:
        store.close()
    if output:
        emit({"exported": count, "path": output}, f"exported {count} runs to {output}", as_json)


@history.command()
@click.option("--max-runs", type=click.IntRange(min=0), default=None, help="Keep at most this many (default: config).")
@click.option("--max-age-days", type=click.FloatRange(min=0), default=None, help="Remove older runs (default: config).")
@json_option
@click.pass_obj
def prune(state: CliState, max_runs: int | None, max_age_days: float | None, as_json: bool) -> None:
    """Remove old runs now, by count and age (0 means no limit). Runs still going are kept."""
    store = _store(state, as_json)
    runs = store.settings.max_runs if max_runs is None else max_runs
    days = store.settings.max_age_days if max_age_days is None else max_age_days
    try:
        removed = store.prune_now(runs, days)
        left = store.count()
    except HistoryUnavailable as error:
        fail(str(error), as_json)
    finally:
        store.close()
    emit({"removed": removed, "kept": left, "path": str(store.path)}, f"removed {removed} runs, {left} kept", as_json)


def _brief(record: RunRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "started": when(record.started_at),
        "status": record.status,
        "duration_s": record.duration_s,
        "total_lines": record.total_lines,
        "label": record.label,
        "backend": record.backend,
        "error": record.error_message,
        "fixed_by": record.fixed_by,
    }


def _describe(record: RunRecord) -> str:
    head = f"{record.id}: {record.status}"
    if record.exit_code is not None:
        head += f" (exit {record.exit_code})"
    head += f", {record.backend}, started {when(record.started_at)}, {record.duration_s or 0:.2f} s"
    lines = [head, f"parameters: {json.dumps(record.parameters)}"]
    for name, value in (("chain", record.chain_id and f"{record.chain_id} attempt {record.attempt}"),
                        ("source", record.source), ("verdict", record.verdict), ("summary", record.summary),
                        ("stop", record.stop_note), ("cost", record.overhead and record.overhead.line()),
                        ("fixed by", record.fixed_by),
                        ("likely fixed by", record.likely_fixed_by)):
        if value:
            lines.append(f"{name}: {value}")
    if record.program:
        lines += ["program:", *("  " + line for line in record.program.splitlines())]
    for error in record.errors:
        lines.append(f"error [{error.category}]: {error.message}" + (f" (hint: {error.hint})" if error.hint else ""))
    for finding in record.findings or []:
        lines.append(f"finding [{finding.get('severity')}] {finding.get('rule')}: {finding.get('message')}")
    if record.status == REFUSED:
        if not record.errors:
            lines.append(f"refused [{record.error_category}]: {record.error_message}")
        return "\n".join(lines)  # nothing ran: no output
    lines.append(f"output ({record.total_lines} lines):")
    lines += record.output_head
    missing = record.total_lines - len(record.output_head) - len(record.output_tail)
    if missing > 0:
        lines.append(f"[{missing} lines not kept]")
    lines += record.output_tail
    return "\n".join(lines)
