"""`mcptrace setup sudo`: let a user who is not root trace, through a sudoers rule for the tracers alone."""

from __future__ import annotations

import os

import click

from mcptrace_core.cli.common import CliState
from mcptrace_core.privilege import PrivilegedCommands


@click.group()
def setup() -> None:
    """Prepare this host for mcptrace (run by an administrator)."""


@setup.command()
@click.option("--user", "user_name", default=None,
              help="Who may trace (default: the user who called sudo, $SUDO_USER).")
@click.option("--print", "print_only", is_flag=True, help="Only show the rule and the config change; write nothing.")
@click.option("--remove", is_flag=True, help="Take the rule and the privilege prefix away again.")
@click.pass_obj
def sudo(state: CliState, user_name: str | None, print_only: bool, remove: bool) -> None:
    """Let USER trace without being root: a sudoers rule for exactly bpftrace and the installed BCC tools.

    Writes /etc/sudoers.d/mcptrace-USER (checked with `visudo -c` before it is put in place, mode 0440):
    USER may run those executables as root without a password, and nothing else, and may pass them only
    the variables they need (bpftrace's BPFTRACE_* limits). Then sets privilege.prefix = ["sudo", "-n"] and
    bpftrace.path in USER's config (~USER/.config/mcptrace/config.toml), written as USER. Run it again
    after installing more BCC tools.

    \b
    Examples:
      sudo mcptrace setup sudo --user alice
      mcptrace setup sudo --user alice --print
    """
    from mcptrace_core import sudoers
    from mcptrace_core.services import Services

    name = user_name or os.environ.get("SUDO_USER")
    if not name:
        raise click.ClickException("name the user who may trace: --user NAME")
    try:
        user = sudoers.find_user(name)
        if remove:
            if print_only:
                click.echo(f"would remove {sudoers.drop_in_path(user)} and privilege.prefix from {name}'s config")
                return
            _need_root(name, "--remove")
            removed = sudoers.remove(user)
            click.echo(f"removed {sudoers.drop_in_path(user)}" if removed else f"no {sudoers.drop_in_path(user)}")
            click.echo(sudoers.write_user_config(user, sudoers.user_config_file(user), None, enable=False))
            return
        services = Services.create(state.settings(history={"enabled": False}))  # only the backends are asked
        wanted: dict[str, PrivilegedCommands] = {}
        for backend in services.registry.backends:
            try:
                wanted[backend.name] = backend.privileged_commands()
            except Exception as error:  # bpftrace missing: the rule covers what is installed, and says so
                click.echo(f"note: backend {backend.name}: {error}", err=True)
        rule = sudoers.render(user, wanted)
        bpftrace = wanted.get("bpftrace")
        bpftrace_path = bpftrace.commands[0][0] if bpftrace and bpftrace.commands else None
        if print_only:
            click.echo(f"# {rule.path}\n{rule.text}")
            click.echo(f"# and in {sudoers.user_config_file(user)}:\n[privilege]\nprefix = [\"sudo\", \"-n\"]")
            if bpftrace_path:
                click.echo(f"[bpftrace]\npath = \"{bpftrace_path}\"")
            return
        _need_root(name)
        sudoers.install(rule)
        click.echo(f"wrote {rule.path} (checked with visudo -c, mode 0440)")
        click.echo(sudoers.write_user_config(user, sudoers.user_config_file(user), bpftrace_path, enable=True))
        click.echo(f"{name} can now check it with `mcptrace doctor`")
        click.echo(f"note: bpftrace as root runs any command it is given (-c, --unsafe system()): {name} is now as "
                   "good as root outside mcptrace's safety policy; give the rule only to users trusted with root",
                   err=True)
    except sudoers.SudoSetupError as error:
        raise click.ClickException(str(error)) from None


def _need_root(name: str, flag: str = "") -> None:
    if os.geteuid() != 0:
        command = " ".join(["sudo mcptrace setup sudo --user", name, flag]).strip()
        raise click.ClickException(f"changing sudo's rules needs root: run `{command}` (or add --print to only see it)")
