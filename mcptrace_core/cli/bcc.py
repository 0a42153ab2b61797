"""`mcptrace bcc list|run`: the BCC tools installed here, and running one with checked arguments."""

from __future__ import annotations

import re
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import answered_yes, call
from mcptrace_core.cli.run import fleet_overrides, host_arguments, hosts_option, inventory_option, start_and_stream
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError


@click.group()
def bcc() -> None:
    """The BCC tools installed on this host (libbpf-tools, bpfcc-tools): list them, run one.

    \b
    Examples:
      mcptrace bcc list                      # every tool, usable ones first, with the reason for the rest
      mcptrace bcc list latency --usable     # usable tools whose name, description or options say 'latency'
      mcptrace bcc run execsnoop --timeout 5 # trace new processes for 5 s
      mcptrace bcc run opensnoop -a pid=1234 -a timestamp=true
    """


@bcc.command("list")
@click.argument("query", required=False)
@click.option("--usable", "usable_only", is_flag=True, help="Only the tools that attach on this host.")
@click.option("--limit", type=click.IntRange(1, 500), default=500, show_default=True, help="Most tools to show.")
@json_option
@click.pass_obj
@run_async
async def list_tools(state: CliState, query: str | None, usable_only: bool, limit: int, as_json: bool) -> None:
    """List the installed BCC tools matching QUERY (words that must all appear).

    Each tool is tried once per boot to see whether it attaches here (about 30 s the first time for
    ~190 tools, then instant); a tool that cannot run says why and what would fix it. This also
    learns the tools for the `full` exposure mode of `mcptrace serve`.

    \b
    Example:
      mcptrace bcc list 'block latency' --json
    """
    services = Services.create(state.settings())
    try:
        result = await call(services, "list_bcc_tools", query=query, usable_only=usable_only, limit=limit)
    except ToolError as error:
        fail(str(error), as_json)
        return
    emit(result.model_dump(mode="json"), result.to_text(), as_json)


@bcc.command("run")
@click.argument("tool")
@click.option("-a", "--arg", "pairs", multiple=True, metavar="KEY=VALUE",
              help="An option or argument of the tool, e.g. -a pid=42 -a timestamp=true (repeatable).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="How long to trace, in seconds (default from config: runs.default_timeout_s).")
@click.option("--confirm", is_flag=True,
              help="Answer yes yourself, up front, when the safety policy asks to confirm the run (otherwise "
              "you are asked on the terminal; without a terminal the run is refused).")
@hosts_option
@inventory_option
@json_option
@click.pass_obj
@run_async
async def run_tool(
    state: CliState, tool: str, pairs: tuple[str, ...], timeout_s: float | None, confirm: bool,
    hosts: tuple[str, ...], inventory: str | None, as_json: bool,
) -> None:
    """Run the BCC tool TOOL with checked arguments, streaming its output.

    Arguments go through the same checks as a run an assistant starts: known options only, typed
    values, never a shell; the safety policy applies, and when it asks for confirmation you are asked
    on the terminal (or say yes up front with --confirm). Ctrl-C stops the tool with SIGINT, so it prints
    its summary.
    With --json, one JSON document at the end: lines, tables parsed into rows, histograms as buckets.

    \b
    Examples:
      mcptrace bcc run runqlat --timeout 3
      mcptrace bcc run syscount -a top=5 --timeout 2 --json
      mcptrace bcc run runqlat --hosts db --timeout 5 --json    (on the fleet's db hosts, over SSH)
    """
    try:
        arguments = dict(_pair(text) for text in pairs)
    except click.BadParameter as error:
        fail(str(error), as_json)
        return
    services = Services.create(state.settings(**fleet_overrides(inventory)))
    await start_and_stream(services, "exec_bcc_tool", as_json, ask_user=answered_yes if confirm else None,
                           tool_name=tool, arguments=arguments, timeout_s=timeout_s, **host_arguments(hosts))


def _pair(text: str) -> tuple[str, Any]:
    """KEY=VALUE with the value read as a boolean, a whole number or a text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise click.BadParameter(f"--arg {text!r}: write KEY=VALUE, e.g. pid=42 or timestamp=true")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return key, int(value)
    return key, value
