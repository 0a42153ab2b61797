"""`mcptrace validate`: every validation layer on a program file, without running it."""

from __future__ import annotations

import sys

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, program_argument, read_program, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError

EXIT_INVALID = 1
EXIT_BLOCKED = 2


@click.command()
@program_argument
@click.option("--level", "safety_level", default=None, metavar="POLICY",
              help="Safety policy: strict, standard, permissive or a plugin's (default: safety.level).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="The intended run duration in seconds, checked against the policy.")
@json_option
@click.pass_obj
@run_async
async def validate(state: CliState, source: str, safety_level: str | None,
                   timeout_s: float | None, as_json: bool) -> None:
    """Validate the bpftrace program in SOURCE (a file, or - for stdin) without running it.

    Parses it, compiles it with this host's bpftrace (-d, nothing is attached), counts what each probe
    attaches here and applies the safety policy. Prints errors with line, column, hint and suggestions,
    the policy's findings with fixes, and the verdict. Exit status: 0 when it may run (verdict allow or
    confirm), 1 when it is invalid, 2 when the policy blocks it.

    \b
    Examples:
      mcptrace validate /usr/sbin/opensnoop.bt
      echo 'tracepoint:sched:sched_switch { printf("%s\\n", comm); }' | mcptrace validate - --level strict
    """
    program = read_program(source, as_json)
    services = Services.create(state.settings())
    try:
        report = await call(services, "validate_program", program=program, safety_level=safety_level,
                            timeout_s=timeout_s)
    except ToolError as error:
        fail(str(error), as_json)
        return
    finally:
        await services.aclose()
    emit(report.model_dump(mode="json"), report.to_text(), as_json)
    data = report.model_dump()
    sys.exit(EXIT_INVALID if not data["valid"] else EXIT_BLOCKED if data["verdict"] == "block" else 0)
