"""How tracing processes get root: directly when we are root, else through a configured prefix.

The prefix is a command such as ``sudo -n`` backed by a NOPASSWD rule (``mcptrace setup sudo`` writes
one that allows exactly bpftrace and the installed BCC tools); a password is never stored in a file or an
environment variable, and ``-n`` makes sudo fail at once rather than prompt. Everything runs as an argv,
never through a shell.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcptrace_core.config import PrivilegeSettings

SUDO_PREFIX = ["sudo", "-n"]


@dataclass(frozen=True)
class PrivilegedCommands:
    """What a backend runs as root. Each command is an argv head: ``["/usr/bin/bpftrace"]`` allows that
    executable with any arguments; ``["/usr/bin/stdbuf", "-oL", "/usr/sbin/runqlat"]`` allows exactly
    that head followed by any arguments. Paths are absolute."""

    commands: list[list[str]] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    """Variables the commands may be given on sudo's command line (NAME=value), e.g. BPFTRACE_STRLEN."""


class PrivilegeError(Exception):
    """Tracing needs root and there is no way to get it."""


def is_root() -> bool:
    return os.geteuid() == 0


def user_name() -> str:
    """The name of the user this process runs as, from its uid (not $USER, which anyone can set)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def setup_fix() -> str:
    """The one command that gives this user a way to trace (run by an administrator)."""
    return f"sudo mcptrace setup sudo --user {user_name()}"


def command_prefix(settings: PrivilegeSettings) -> list[str]:
    """What to put before a tracing command: nothing as root, the configured prefix otherwise."""
    if is_root():
        return []
    if settings.prefix:
        return list(settings.prefix)
    raise PrivilegeError(
        f"tracing needs root and mcptrace runs as {user_name()} (uid {os.geteuid()}) with no privilege.prefix: "
        f"have an administrator run `{setup_fix()}` (a sudoers rule for bpftrace and the BCC tools only, and "
        "privilege.prefix = [\"sudo\", \"-n\"] in your config), or run mcptrace as root"
    )


def is_sudo(prefix: list[str]) -> bool:
    return bool(prefix) and Path(prefix[0]).name == "sudo"


def pass_environment(
    settings: PrivilegeSettings, argv: list[str], env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """``argv`` and the environment to start it with, so that ``env`` reaches the command behind the prefix.

    sudo resets the environment (env_reset), so variables put in the child's environment would vanish
    without a word, and with them the BPFTRACE_* limits a policy set. Through sudo they go on its command
    line as NAME=value instead (sudo -n NAME=value /usr/bin/bpftrace ...): sudo then passes exactly these
    when the sudoers rule keeps them (``mcptrace setup sudo`` writes env_keep for them) and refuses the run
    loudly when it does not. As root, or with another prefix, they go in the environment as usual.
    """
    prefix = [] if is_root() else list(settings.prefix)
    if env and is_sudo(prefix) and argv[: len(prefix)] == prefix:
        assignments = [f"{name}={value}" for name, value in sorted(env.items())]
        return prefix + assignments + argv[len(prefix) :], {}
    return list(argv), dict(env)
