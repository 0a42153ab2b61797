"""`mcptrace install claude-desktop|claude-code`: add mcptrace to an MCP client's configuration."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

SERVER_NAME = "mcptrace"


def server_entry(config_file: str | None = None) -> dict[str, Any]:
    """How a client starts this mcptrace: the absolute path of the installed command, `serve`, and the
    config file given to `install` (as an absolute path: the client starts the server elsewhere)."""
    command = shutil.which("mcptrace") or str(Path(sys.argv[0]).resolve())
    config = ["--config", str(Path(config_file).resolve())] if config_file else []
    return {"command": command, "args": [*config, "serve"]}


def http_entry(state: Any) -> dict[str, Any]:
    """The HTTP server's URL and bearer token, from the same settings `mcptrace serve` reads."""
    from mcptrace_core.httpauth import TokenError, client_entry

    try:
        return client_entry(state.settings())
    except TokenError as error:
        raise click.ClickException(str(error)) from None


def claude_desktop_config_path() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    return Path.home() / ".config" / "Claude" / "claude_desktop_config.json"


def read_config(path: Path) -> dict[str, Any]:
    """The client config at ``path`` (empty when there is none), with its mcpServers object."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except ValueError as error:
            raise click.ClickException(f"{path} is not valid JSON ({error}); fix it or use --print") from None
        if not isinstance(data, dict):
            raise click.ClickException(f"{path} does not hold a JSON object; fix it or use --print")
    if not isinstance(data.setdefault("mcpServers", {}), dict):
        raise click.ClickException(f"{path}: mcpServers is not an object; fix it or use --print")
    return data


def merge_server(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The client config at ``path`` with our server added or replaced; other servers are kept."""
    data = read_config(path)
    data["mcpServers"][SERVER_NAME] = entry
    return data


def remove_server(path: Path) -> dict[str, Any] | None:
    """The client config at ``path`` without our server; None when it holds none (nothing to undo)."""
    data = read_config(path)
    return data if data["mcpServers"].pop(SERVER_NAME, None) is not None else None


def write_config(target: Path, data: dict[str, Any], private: bool = False) -> None:
    """Write the client config, keeping the previous file as *.bak; ``private``: it holds a bearer token, so
    it is made 0600 before anything is written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.copy2(target, target.with_name(target.name + ".bak"))
    if private:
        target.touch(mode=0o600)
        target.chmod(0o600)
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def privilege_advice(command: str, config_file: str | None = None) -> str | None:
    """What a user who is not root still needs before the client's server can trace; None when nothing.

    Judged by the settings the client's server will read: ``config_file`` when install was given one.
    """
    from mcptrace_core.config import ConfigError, load_settings
    from mcptrace_core.privilege import is_root, user_name

    if is_root():
        return None
    try:
        if load_settings(Path(config_file) if config_file else None).privilege.prefix:
            return None
    except ConfigError as error:
        return f"your mcptrace config is invalid ({error}); fix it, then run `mcptrace doctor`"
    return (
        f"the client runs mcptrace as {user_name()}, and tracing needs root: have an administrator run "
        f"`sudo {command} setup sudo --user {user_name()}` (a sudoers rule for bpftrace and the BCC tools "
        "only), then check with `mcptrace doctor`"
    )


@click.command()
@click.argument("client", type=click.Choice(["claude-desktop", "claude-code"]))
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="http: point the client at `mcptrace serve --transport http`, with the bearer token.")
@click.option("--print", "print_only", is_flag=True, help="Print the configuration instead of writing it.")
@click.option("--remove", is_flag=True, help="Take mcptrace out of the client's configuration again.")
@click.option("--sudo/--no-sudo", "use_sudo", default=None,
              help="When you are not root: run `sudo mcptrace setup sudo` for you now (sudo asks for your password), "
              "or do not; by default you are asked when there is a terminal.")
@click.option("--path", type=click.Path(dir_okay=False), default=None,
              help="Config file to write (default: Claude Desktop's config, or ./.mcp.json for Claude Code).")
@click.pass_obj
def install(
    state: Any, client: str, transport: str, print_only: bool, remove: bool, use_sudo: bool | None, path: str | None
) -> None:
    """Add mcptrace to Claude Desktop or Claude Code (or, with --remove, take it out).

    claude-desktop merges an `mcptrace` entry into claude_desktop_config.json; claude-code writes the
    project-scoped .mcp.json in the current directory (equivalent: `claude mcp add mcptrace -- mcptrace
    serve`). Other servers in the file are kept and the previous file is saved as *.bak. A config file given
    with --config (or MCPTRACE_CONFIG) goes into the entry, so the client's server reads it too. Clients run
    the server as you: when you are not root, it says how to get tracing rights (`mcptrace setup sudo`).
    """
    entry = server_entry(state.config_file) if transport == "stdio" else http_entry(state)
    default = claude_desktop_config_path() if client == "claude-desktop" else Path.cwd() / ".mcp.json"
    target = Path(path) if path else default
    if remove:
        data = remove_server(target)
        if data is None:
            click.echo(f"{target} has no {SERVER_NAME} entry; nothing to remove")
            return
        if print_only:
            click.echo(json.dumps(data, indent=2))
            return
        write_config(target, data)
        click.echo(f"removed {SERVER_NAME} from {target} (previous file: {target.name}.bak); restart {client}")
        return
    if print_only:
        click.echo(json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2))
        if client == "claude-code":
            click.echo(f"# or: claude mcp add {SERVER_NAME} -- {entry['command']} serve", err=True)
        return
    write_config(target, merge_server(target, entry), private=transport == "http")
    click.echo(f"added {SERVER_NAME} to {target}; restart {client} to pick it up")
    advice = privilege_advice(entry["command"], state.config_file) if transport == "stdio" else None
    if advice is None:
        return
    if use_sudo is None and sys.stdin.isatty():
        use_sudo = click.confirm(f"{advice}.\nRun `sudo {entry['command']} setup sudo` now?", default=False, err=True)
    if use_sudo:
        setup_with_sudo(entry["command"])
    else:
        click.echo(f"note: {advice}", err=True)


def setup_with_sudo(command: str) -> None:
    """`sudo mcptrace setup sudo --user ME`: sudo asks for the password on the terminal, never mcptrace."""
    import subprocess

    from mcptrace_core.privilege import user_name

    argv = ["sudo", command, "setup", "sudo", "--user", user_name()]
    try:
        done = subprocess.run(argv, check=False).returncode == 0
    except OSError as error:
        done = False
        click.echo(f"could not start sudo: {error.strerror}", err=True)
    if not done:
        raise click.ClickException(
            f"the client is configured, but `{' '.join(argv)}` failed: have an administrator run it, then check with "
            "`mcptrace doctor`"
        )
