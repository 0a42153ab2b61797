"""`mcptrace run`: run a bpftrace program from a file or stdin, streaming its output."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, program_argument, read_program, run_async
from mcptrace_core.cli.data import answered_yes, call, terminal_confirmation
from mcptrace_core.runs.models import RunStatus
from mcptrace_core.runs.results import execution_result
from mcptrace_core.services import Services
from mcptrace_core.tools import ConfirmFn, ToolError

PAGE_LINES = 1000

hosts_option = click.option(
    "--hosts", multiple=True,
    help="Run on these hosts of the fleet over SSH: names, inventory groups, patterns (repeatable; the fleet plugin).",
)
inventory_option = click.option(
    "--inventory", type=click.Path(dir_okay=False), default=None,
    help="The Ansible inventory (INI or YAML) to use instead of fleet.inventory.",
)


def host_arguments(hosts: tuple[str, ...]) -> dict[str, Any]:
    """The ``hosts`` tool argument of --hosts options ('web,db' and repeated options alike); none without them."""
    names = [name.strip() for option in hosts for name in option.split(",") if name.strip()]
    return {"hosts": names} if names else {}


def fleet_overrides(inventory: str | None) -> dict[str, Any]:
    return {"fleet": {"inventory": inventory}} if inventory else {}


@click.command()
@program_argument
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds (default from config: runs.default_timeout_s).")
@click.option("--confirm", is_flag=True,
              help="Answer yes yourself, up front, when the safety policy asks to confirm the program (otherwise "
              "you are asked on the terminal; without a terminal the run is refused).")
@click.option("--max-overhead-pct", type=click.FloatRange(min=0, max=100, min_open=True), default=None,
              help="Stop the run (status over_budget, maps kept) when its BPF programs and process use more than "
              "this share of the machine's CPU.")
@hosts_option
@inventory_option
@json_option
@click.pass_obj
@run_async
async def run(
    state: CliState, source: str, timeout_s: float | None, confirm: bool, max_overhead_pct: float | None,
    hosts: tuple[str, ...], inventory: str | None, as_json: bool,
) -> None:
    """Run the bpftrace program in SOURCE (a file, or - for stdin) and stream its output.

    The program is validated first, as a run from an assistant is; when the safety policy wants
    confirmation you are asked on the terminal (with the program read from stdin there is no one to
    ask, so it is refused), or --confirm answers yes up front. Ctrl-C stops the program: bpftrace gets
    SIGINT and prints its maps, which are shown before the command exits, followed by what the run cost
    (events, BPF time, CPU share, memory). The exit status is 0 when the program completed or was stopped
    (also over its budget), 1 when it failed.

    With --hosts (names, groups or patterns of the fleet's inventory; repeatable) the program runs on
    those hosts over SSH (the fleet plugin): lines come prefixed with the host, and --json prints one
    document with `hosts` (each host's status, error and maps) and `merged` (the maps merged).

    \b
    Examples:
      echo 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }' | mcptrace run - --timeout 5
      mcptrace run --hosts web --inventory hosts.ini --timeout 10 --json prog.bt
    """
    program = read_program(source, as_json)
    services = Services.create(state.settings(**fleet_overrides(inventory)))
    await start_and_stream(services, "exec_program", as_json, ask_user=answered_yes if confirm else None,
                           program=program, timeout_s=timeout_s, max_overhead_pct=max_overhead_pct,
                           **host_arguments(hosts))


async def start_and_stream(
    services: Services, tool: str, as_json: bool, ask_user: ConfirmFn | None = None, **arguments: Any
) -> None:
    """Start a run with ``tool`` and print its output as it comes; Ctrl-C stops it; exit with its status.

    :param ask_user: answers the safety policy's question; by default the person at the terminal, if any.
    """
    try:
        started = await call(services, tool, ask_user=ask_user or terminal_confirmation(), **arguments)
    except ToolError as error:
        await services.aclose()  # a refused attempt is recorded in the history: write it before exiting
        fail(str(error), as_json)
    if started.execution_id not in {run.id for run in services.runs.list()}:  # type: ignore[attr-defined]
        await follow_remote(services, started.execution_id, as_json)  # type: ignore[attr-defined]
        return
    run_state = services.runs.get(started.execution_id)  # type: ignore[attr-defined]
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGINT, lambda: run_state.request_stop(RunStatus.stopped, "stopped with Ctrl-C")
    )
    offset = 0
    try:
        while True:
            page = run_state.output.page(offset, PAGE_LINES)
            if not as_json:
                if page.skipped:
                    click.echo(f"[{page.skipped} lines dropped by the output cap]")
                for line in page.lines:
                    click.echo(line)
            offset = page.offset + len(page.lines)
            if run_state.status.finished and offset >= run_state.output.total:
                break
            if not page.lines:
                await run_state.wait_changed(0.5)
    finally:
        await services.aclose()
    result = execution_result(run_state, 0 if as_json else offset, run_state.output.total if as_json else 0)
    if as_json:
        emit(result.model_dump(mode="json"), "", as_json=True)
    else:
        for error in result.errors:
            click.echo(f"error [{error.category}]: {error.message}", err=True)
            if error.hint:
                click.echo(f"  hint: {error.hint}", err=True)
        if result.stop_note:
            click.echo(f"[{result.status}: {result.stop_note}]", err=True)
        if result.overhead is not None:
            click.echo(f"[{result.overhead.line()}]", err=True)
    sys.exit(1 if result.status in ("failed", "killed") else 0)


async def follow_remote(services: Services, execution_id: str, as_json: bool) -> None:
    """Follow a run kept by a plugin (a fleet run) through get_result; Ctrl-C stops it through stop_execution.

    With --json, a result with a ``fleet`` part prints its ``hosts`` (with each host's maps) and the
    merged maps (``merged``) at the top level.
    """
    stop_requested = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop_requested.set)
    offset = 0
    try:
        while True:
            if stop_requested.is_set():
                stop_requested.clear()  # once per Ctrl-C, not on every page after it
                await call(services, "stop_execution", execution_id=execution_id)
            page = await call(services, "get_result", execution_id=execution_id, offset=offset,
                              limit=PAGE_LINES, wait_s=0.5)
            if not as_json:
                for line in page.lines:  # type: ignore[attr-defined]
                    click.echo(line)
            offset = page.next_offset  # type: ignore[attr-defined]
            if page.status != "running" and not page.has_more:  # type: ignore[attr-defined]
                break
        if as_json:  # every host named: each host's maps come with the lines
            fleet = getattr(page, "fleet", None)
            hosts = [host.host for host in fleet.hosts] if fleet is not None else None
            final = await call(services, "get_result", execution_id=execution_id, offset=0, limit=5000,
                               hosts=hosts)
        else:
            final = page
    finally:
        await services.aclose()
    document = final.model_dump(mode="json")
    fleet = document.pop("fleet", None) or {}
    if as_json:
        document.update(hosts=fleet.get("hosts", []), merged=document.get("maps", []),
                        unmerged=fleet.get("unmerged", []), counts=fleet.get("counts", {}))
        emit(document, "", as_json=True)
    else:
        click.echo(final.to_text().split("\n", 1)[0], err=True)
        for host in fleet.get("hosts", []):
            if host.get("error"):
                click.echo(f"{host['host']}: {host['status']}: {host['error']}", err=True)
    sys.exit(1 if final.status in ("failed", "killed") else 0)  # type: ignore[attr-defined]
