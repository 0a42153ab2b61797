"""Commands that report: doctor, probes, plugins."""

from __future__ import annotations

import sys
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.resources import ResourceNotFound, read_resource
from mcptrace_core.runs.watch import watcher_host_checks
from mcptrace_core.services import Services
from mcptrace_core.tools import ConfirmFn, ToolError, ToolOutput, invoke


async def call(services: Services, tool: str, *, ask_user: ConfirmFn | None = None, **arguments: Any) -> ToolOutput:
    """Run one of the server's tools from the command line; ``ask_user`` asks the person at the terminal."""
    spec = services.registry.get("tool", tool)
    if spec is None:
        raise ToolError(f"the tool {tool} is not available: is its plugin disabled? (see `mcptrace plugins`)")
    return await invoke(services, spec, arguments, confirm=ask_user, client="cli")


def terminal_confirmation() -> ConfirmFn | None:
    """Ask on the terminal when there is one; None (nobody to ask: fail closed) when stdin is not a TTY."""
    if not sys.stdin.isatty():
        return None

    async def ask(message: str) -> bool:
        click.echo(message, err=True)
        return click.confirm("", default=False, err=True)

    return ask


async def answered_yes(question: str) -> bool:
    """The person running the command confirmed with --confirm: show what they agreed to."""
    click.echo(question, err=True)
    click.echo("yes (--confirm)", err=True)
    return True


@click.command()
@json_option
@click.pass_obj
@run_async
async def doctor(state: CliState, as_json: bool) -> None:
    """What works on this host for tracing, and the exact fix for what does not.

    Runs a tiny trial program per probe type (cached per boot), so the answer is measured: a kernel
    without kprobes is reported as such even when `bpftrace --info` says otherwise.
    """
    services = Services.create(state.settings())
    report: dict[str, list[dict[str, Any]]] = {}
    lines = []
    for backend in services.registry.backends:
        checks = await backend.doctor()
        report[backend.name] = [check.model_dump() for check in checks]
        lines.append(f"{backend.name}:")
        for check in checks:
            lines.append(f"  [{'ok' if check.ok else 'NO'}] {check.name}: {check.detail}")
            if not check.ok and check.fix:
                lines.append(f"       fix: {check.fix}")
    watcher_checks = watcher_host_checks(services.registry.run_watchers)
    if watcher_checks:
        report["run watchers"] = [check.model_dump() for check in watcher_checks]
        lines.append("run watchers:")
        for check in watcher_checks:
            lines.append(f"  [{'ok' if check.ok else 'NO'}] {check.name}: {check.detail}")
            if not check.ok and check.fix:
                lines.append(f"       fix: {check.fix}")
    problems = services.registry.problems + [
        f"plugin {record.name}: {record.error}" for record in services.plugins.records if record.state == "failed"
    ]
    lines += [f"plugin problem: {problem}" for problem in problems]
    emit({"backends": report, "plugin_problems": problems}, "\n".join(lines) or "no backends loaded", as_json)


@click.command()
@click.argument("filter", required=False, default="*")
@click.option("--args", "with_args", is_flag=True, help="Show tracepoint arguments.")
@click.option("--doc", "doc", metavar="PROBE", help="Show the documentation of one probe instead of a listing.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="First probe to show.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Most probes to show.")
@json_option
@click.pass_obj
@run_async
async def probes(
    state: CliState, filter: str, with_args: bool, doc: str | None, offset: int, limit: int, as_json: bool
) -> None:
    """List the probes bpftrace can attach here, filtered by a bpftrace wildcard pattern.

    \b
    Examples:
      mcptrace probes 'tracepoint:sched:*'
      mcptrace probes t:syscalls:sys_enter_open* --args
      mcptrace probes 'uprobe:/usr/bin/bash:read*'
      mcptrace probes --doc tracepoint:block:block_rq_issue
    """
    services = Services.create(state.settings())
    if doc is not None:
        await _probe_doc(services, doc, as_json)
        return
    try:
        result = await call(services, "list_probes", filter=filter, offset=offset, limit=limit, with_args=with_args)
    except ToolError as error:
        fail(str(error), as_json)
        return
    emit(result.model_dump(mode="json"), result.to_text(), as_json)


async def _probe_doc(services: Services, name: str, as_json: bool) -> None:
    """The probe's documentation page, as the MCP resource mcptrace://probes/{name} serves it."""
    uri = f"mcptrace://probes/{name}"
    try:
        content = await read_resource(services, uri)
    except ResourceNotFound as error:
        fail(str(error), as_json)
        return
    emit({"uri": uri, "mime_type": content.mime_type, "text": content.text}, content.text.rstrip("\n"), as_json)


@click.command()
@json_option
@click.pass_obj
def plugins(state: CliState, as_json: bool) -> None:
    """The plugins found in the `mcptrace` entry-point group: name, distribution, version, hooks, state."""
    settings = state.settings()
    pm = build_plugin_manager(settings.plugins.disable)
    records = [
        {
            "name": record.name,
            "distribution": record.distribution,
            "version": record.version,
            "state": record.state,
            "hooks": list(record.hooks),
            "error": record.error,
        }
        for record in pm.records
    ]
    lines = []
    for record in records:
        origin = f"{record['distribution']} {record['version']}" if record["distribution"] else "(not installed)"
        lines.append(f"{record['name']:<16} {record['state']:<8} {origin}")
        if record["hooks"]:
            lines.append("    hooks: " + ", ".join(record["hooks"]))
        if record["error"]:
            lines.append(f"    error: {record['error']}")
    emit({"plugins": records}, "\n".join(lines) or "no plugins found", as_json)
