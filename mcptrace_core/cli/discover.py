"""`mcptrace discover`: find the probes of this host that fit a goal (the discover_probes tool)."""

from __future__ import annotations

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError

@click.command()
@click.argument("goal")
@click.option(
    "--type",
    "probe_types",
    multiple=True,
    metavar="TYPE",
    help="Only probes of this type, e.g. tracepoint or uprobe (repeat for several; a wrong one is named "
    "with the types allowed).",
)
@click.option(
    "--limit", type=click.IntRange(1, 50), default=12, show_default=True, help="Most probes to show."
)
@json_option
@click.pass_obj
@run_async
async def discover(
    state: CliState, goal: str, probe_types: tuple[str, ...], limit: int, as_json: bool
) -> None:
    """Find the probes on this host that fit GOAL, by meaning and by words, grouped by subsystem.

    Each probe says what fires it, why it fits, its fields on this host, whether it works here (with a
    tracepoint alternative when it does not) and its companions; combinations are suggested.

    \b
    Examples:
      mcptrace discover 'why are disk writes slow'
      mcptrace discover 'tcp retransmits' --type tracepoint --limit 5
      mcptrace discover sched_switch --json
    """
    services = Services.create(state.settings())
    try:
        result = await call(
            services, "discover_probes", goal=goal, probe_types=list(probe_types), limit=limit
        )
    except ToolError as error:
        fail(str(error), as_json)
        return
    finally:
        await services.aclose()
    emit(result.model_dump(mode="json"), result.to_text(), as_json)
