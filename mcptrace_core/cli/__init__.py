"""The `mcptrace` command line: thin click commands over the same services and tools as the server.

Data commands take ``--json`` and then print exactly one JSON document on stdout (an error too:
``{"error": "..."}``); logs always go to stderr.
"""

from __future__ import annotations

import click

from mcptrace_core.cli.bcc import bcc
from mcptrace_core.cli.analyze import analyze
from mcptrace_core.cli.common import CliState, global_options
from mcptrace_core.cli.config_cmd import config
from mcptrace_core.cli.data import doctor, plugins, probes
from mcptrace_core.cli.examples import examples
from mcptrace_core.cli.discover import discover
from mcptrace_core.cli.history import history
from mcptrace_core.cli.install import install
from mcptrace_core.cli.run import run
from mcptrace_core.cli.search_cmd import index, search
from mcptrace_core.cli.serve import serve
from mcptrace_core.cli.setup import setup
from mcptrace_core.cli.validate import validate
from mcptrace_core.cli.templates import templates


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@global_options
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, log_level: str | None) -> None:
    """mcptrace: safe Linux kernel tracing with bpftrace and BCC, for AI assistants and people.

    `mcptrace serve` is the MCP server an assistant connects to; the other commands give a person the
    same capabilities in a terminal. Settings come from defaults < the config file (`mcptrace config
    init` writes one) < MCPTRACE_* environment variables < these options.
    """
    ctx.obj = CliState(config_file=config_file, log_level=log_level)


for command in (
    serve, doctor, probes, discover, search, index, validate, run, analyze, templates, bcc, history, plugins, config,
    install, setup, examples,
):
    cli.add_command(command)


def main() -> None:
    cli()
