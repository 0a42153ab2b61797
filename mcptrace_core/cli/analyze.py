"""`mcptrace analyze`: turn saved trace output into numbers, from a file or stdin."""

from __future__ import annotations

from pathlib import Path

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.data import call
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError


@click.command()
@click.argument("source", type=click.File("rb"))
@click.option(
    "--type",
    "output_type",
    default=None,
    metavar="KIND",
    help="Output kind (bpftrace, bpftrace_json, bcc, or one a plugin adds); detected when omitted.",
)
@click.option(
    "--focus",
    "focus_areas",
    multiple=True,
    metavar="AREA",
    help="Report only this part (repeatable): distribution, top, trend, events or anomalies; all by default.",
)
@click.option("--name", "names", multiple=True, metavar="NAME", help="Only this map or column (repeatable).")
@click.option(
    "--top",
    "top_n",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="How many top keys to list.",
)
@click.option(
    "--printout",
    type=int,
    default=None,
    metavar="N",
    help="Which printout of each map printed several times: 1 = the first, -1 = the latest (the default).",
)
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write a PNG chart of the histograms and time series to this file.",
)
@json_option
@click.pass_obj
@run_async
async def analyze(
    state: CliState,
    source: click.utils.LazyFile,
    output_type: str | None,
    focus_areas: tuple[str, ...],
    names: tuple[str, ...],
    top_n: int,
    printout: int | None,
    chart_path: str | None,
    as_json: bool,
) -> None:
    """Analyse trace output in SOURCE (a file, or - for stdin): percentiles, top keys, trends, anomalies.

    Reads bpftrace text or `-f json` output and BCC/libbpf-tools tables and histograms; the kind is
    detected. The same analysis as the analyze_output MCP tool.

    \b
    Examples:
      bpftrace -e 'tracepoint:sched:sched_wakeup { @[comm] = count(); }' -c '/usr/bin/sleep 1' | mcptrace analyze -
      runqlat 1 5 > runqlat.txt; mcptrace analyze runqlat.txt --chart runqlat.png
      mcptrace analyze out.json --type bpftrace_json --focus distribution --json
      mcptrace analyze runqlat.txt --printout 1   # the first interval's histogram, not the latest
    """
    label = getattr(source, "name", "stdin")
    try:
        text = source.read().decode("utf-8")
    except UnicodeDecodeError as error:
        fail(f"{label}: not valid UTF-8 at byte {error.start}", as_json)
        return
    if not text.strip():
        fail(f"{label}: no output to analyse (the input is empty)", as_json)
        return
    services = Services.create(state.settings())
    arguments = {"output": text, "top_n": top_n, "chart": chart_path is not None, "names": list(names)}
    if output_type:
        arguments["output_type"] = output_type
    if focus_areas:
        arguments["focus_areas"] = list(focus_areas)
    if printout is not None:
        arguments["printout"] = printout
    try:
        result = await call(services, "analyze_output", **arguments)
    except ToolError as error:
        fail(str(error), as_json)
        return
    images = result.images()
    if chart_path is not None and images:
        Path(chart_path).write_bytes(images[0].data)
    elif chart_path is not None:
        click.echo("no chart written: the output has no histogram or time series", err=True)
    emit(result.model_dump(mode="json"), result.to_text(), as_json)
