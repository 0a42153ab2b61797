"""What every command shares: global options, loading settings, printing text or one JSON document."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from mcptrace_core.config import ConfigError, Settings, load_settings
from mcptrace_core.logging import configure_logging

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    config_file: str | None
    log_level: str | None
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self, serving: bool = False, quiet: bool = True, **overrides: Any) -> Settings:
        """Load the settings (flags on top) and configure logging; exit with the error on bad config.

        ``quiet`` (for every command but ``serve``) logs warnings only, unless --log-level says otherwise;
        ``config show`` turns it off to show the configured level.
        """
        merged = dict(self.overrides)
        for section, values in overrides.items():
            merged[section] = {**merged.get(section, {}), **values}
        if self.log_level:
            merged.setdefault("logging", {})["level"] = self.log_level
        elif not serving and quiet:  # an interactive command shows its result, not the run manager's chatter
            merged.setdefault("logging", {}).setdefault("level", "warning")
        try:
            settings = load_settings(Path(self.config_file) if self.config_file else None, merged)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        configure_logging(settings.logging.level, settings.logging.format, serving=serving)
        return settings


def global_options(function: F) -> F:
    function = click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default=None,
        help="Least severe log level (logs go to stderr).",
    )(function)
    function = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        envvar="MCPTRACE_CONFIG",
        default=None,
        help="Config file to read instead of the one in the user config directory.",
    )(function)
    return function


json_option = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")
program_argument = click.argument("source", metavar="SOURCE")
"""A program file, or - for stdin; read with read_program so that a missing file is reported like any error."""


def emit(data: Any, text: str, as_json: bool) -> None:
    """Print the result: one JSON document with --json, else the human text."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(text)


def fail(message: str, as_json: bool, code: int = 1) -> NoReturn:
    """Report an error: as the one JSON document with --json, else on stderr; then exit."""
    if as_json:
        click.echo(json.dumps({"error": message}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def read_program(source: str, as_json: bool) -> str:
    """The program text in the file ``source`` (``-``: stdin); exits with the error, as JSON under --json,
    when it cannot be read or is not UTF-8."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as handle:
                data = handle.read()
    except OSError as error:
        fail(f"{source}: {error.strerror or error}", as_json)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        fail(f"{source}: not valid UTF-8 at byte {error.start}", as_json)


def run_async(function: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async click command body on a fresh event loop."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(function(*args, **kwargs))

    return wrapper
