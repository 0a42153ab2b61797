"""`mcptrace config init|show`."""

from __future__ import annotations

import click

from mcptrace_core.cli.common import CliState, emit, json_option
from mcptrace_core.config import render_default_config, settings_as_dict, user_config_path


@click.group()
def config() -> None:
    """Write or show the configuration."""


@config.command()
@click.option("--path", type=click.Path(dir_okay=False), default=None,
              help="Where to write (default: the user config directory, or --config).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init(state: CliState, path: str | None, force: bool) -> None:
    """Write a commented config file holding every default."""
    from pathlib import Path

    target = Path(path or state.config_file or user_config_path())
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_default_config(), encoding="utf-8")
    click.echo(f"wrote {target}")


@config.command()
@json_option
@click.pass_obj
def show(state: CliState, as_json: bool) -> None:
    """Show the effective settings (file, environment and flags applied; secrets masked)."""
    import tomli_w

    settings = state.settings(quiet=False)  # the level the file and environment set, not the CLI's quiet one
    data = settings_as_dict(settings)
    source = state.config_file or user_config_path()
    text = f"# effective settings (config file: {source})\n" + tomli_w.dumps(_without_none(data))
    emit(data, text, as_json)


def _without_none(data: dict) -> dict:  # type: ignore[type-arg]
    """TOML has no null: leave unset keys out of the text form."""
    return {
        key: _without_none(value) if isinstance(value, dict) else value
        for key, value in data.items()
        if value is not None
    }
