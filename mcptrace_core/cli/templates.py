"""`mcptrace templates`: list, show and render program templates (the list_templates and generate tools)."""

from __future__ import annotations

import sys
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError


@click.group()
def templates() -> None:
    """Program templates: typed patterns for common tracing questions, rendered into checked programs.

    \b
    Examples:
      mcptrace templates list latency
      mcptrace templates show syscall_latency
      mcptrace templates render syscall_latency syscall=openat by=process
      mcptrace templates render cpu_profile comm=nginx duration_s=10 | mcptrace run -
    """


@templates.command("list")
@click.argument("query", nargs=-1)
@json_option
@click.pass_obj
@run_async
async def list_command(state: CliState, query: tuple[str, ...], as_json: bool) -> None:
    """List the templates, or those matching the words of QUERY (names, titles, tags, descriptions)."""
    services = Services.create(state.settings())
    try:
        result = await call(services, "list_templates", query=" ".join(query) or None)
    except ToolError as error:
        fail(str(error), as_json)
        return
    emit(result.model_dump(mode="json"), result.to_text(), as_json)


@templates.command()
@click.argument("name")
@json_option
@click.pass_obj
@run_async
async def show(state: CliState, name: str, as_json: bool) -> None:
    """Show template NAME: what it answers, its parameters, and the program it makes with its defaults."""
    services = Services.create(state.settings())
    try:
        listing = await call(services, "list_templates", query=name)
        info = next((item for item in listing.templates if item.name == name), None)  # type: ignore[attr-defined]
        if info is None:
            raise ToolError(f"no template named {name!r}; `mcptrace templates list` shows them all")
        example = {key: _example(info.parameters["properties"][key]) for key in info.required}
        rendered = await call(services, "generate_from_template", template_name=name, parameters=example, check=False)
    except ToolError as error:
        fail(str(error), as_json)
        return
    data = {"template": info.model_dump(mode="json"), "example": rendered.model_dump(mode="json")}
    emit(data, _describe(info, rendered.program, example), as_json)  # type: ignore[attr-defined]


@templates.command()
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--no-check", is_flag=True, help="Do not validate the program (faster).")
@json_option
@click.pass_obj
@run_async
async def render(state: CliState, name: str, assignments: tuple[str, ...], no_check: bool, as_json: bool) -> None:
    """Render template NAME with parameters given as KEY=VALUE and print the program.

    The program goes to stdout and its validation (as `mcptrace validate` gives it) to stderr, so it can be
    piped into `mcptrace run -`. Values are converted by each parameter's kind: pid=1234, threshold=10ms,
    comm=nginx, interval_s=5. The exit status is 1 when the parameters are refused, the program is not
    valid here or the safety policy blocks it.
    """
    parameters: dict[str, Any] = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator or not key:
            fail(f"{assignment!r}: parameters are KEY=VALUE, e.g. pid=1234", as_json)
            return
        parameters[key] = value
    services = Services.create(state.settings())
    try:
        result = await call(
            services, "generate_from_template", template_name=name, parameters=parameters, check=not no_check
        )
    except ToolError as error:
        fail(str(error), as_json)
        return
    validation = result.validation  # type: ignore[attr-defined]
    if as_json:
        emit(result.model_dump(mode="json"), "", as_json=True)
    else:
        click.echo(result.program, nl=False)  # type: ignore[attr-defined]
        for_terminal = result.model_copy(update={"next_step": _next_step(validation)})
        click.echo(for_terminal.report_text(), err=True)  # type: ignore[attr-defined]
    refused = validation is not None and (not validation.valid or validation.verdict == "block")
    sys.exit(1 if refused else 0)


def _next_step(validation: Any) -> str:
    """What to do next, in commands (the tool's own text names MCP tools, which a terminal user cannot call)."""
    if validation is not None and not validation.valid:
        return "fix the parameters named in the errors (`mcptrace probes PATTERN` finds real probe names)"
    if validation is not None and validation.verdict == "block":
        return "the safety policy blocks this program (see the findings): choose other parameters"
    if validation is not None and validation.verdict == "confirm":
        return ("save it to a file and run `mcptrace run FILE`: the safety policy asks you to confirm it first "
                "(--confirm answers yes up front)")
    return "run it: pipe it into `mcptrace run - --timeout 10`"


def _example(schema: dict[str, Any]) -> Any:
    examples = schema.get("examples") or [None]
    return examples[0]


def _describe(info: Any, program: str, example: dict[str, Any]) -> str:
    lines = [f"{info.name}: {info.title}", "", info.description, ""]
    if not info.usable_here:
        lines += [f"NOT usable on this host: missing {', '.join(info.missing)}", ""]
    lines.append(f"outputs: {', '.join(info.outputs)} (first is the default); requires: {', '.join(info.requires)}")
    lines.append("parameters:")
    for key, schema in info.parameters["properties"].items():
        default = "required" if key in info.required else (
            "optional" if schema.get("default") is None else f"default {schema['default']!r}"
        )
        lines.append(f"  {key} ({default}): {schema.get('description', '')}")
    shown = ", ".join(f"{key}={value}" for key, value in example.items())
    lines += ["", f"program with the defaults{' and ' + shown if shown else ''}:", program.rstrip()]
    return "\n".join(lines)
