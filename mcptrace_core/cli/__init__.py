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


class WithPluginCommands(click.Group):
    """The built-in commands, and those plugins add (``mcptrace_cli_commands``), loaded only when the command
    line names a command that is not built in, or when every command is listed (--help)."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        """Collected once per command line (click asks for the list and then for each name)."""
        if "mcptrace.plugin_commands" not in ctx.meta:
            ctx.meta["mcptrace.plugin_commands"] = self._collect_plugin_commands(ctx)
        return ctx.meta["mcptrace.plugin_commands"]

    def _collect_plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        from pathlib import Path

        from mcptrace_core.config import ConfigError, load_settings
        from mcptrace_core.plugins import build_plugin_manager
        from mcptrace_core.registry import build_registry

        config_file = ctx.params.get("config_file")
        try:
            settings = load_settings(Path(config_file) if config_file else None)
        except ConfigError:
            return {}  # the command itself reports the bad config
        registry = build_registry(build_plugin_manager(settings.plugins.disable), settings,
                                  hooks=["mcptrace_cli_commands"])  # isolated: a broken plugin is skipped
        commands = (contribution.item for contribution in registry.contributions("cli_command"))
        return {command.name: command for command in commands
                if isinstance(command, click.Command) and command.name not in self.commands}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_commands(ctx).get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})


@click.group(cls=WithPluginCommands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
