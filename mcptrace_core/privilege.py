"""How tracing processes get root: directly when we are root, else through a configured prefix.

The prefix is a command such as ``sudo -n`` backed by a NOPASSWD rule; a password is never stored in a
file or an environment variable, and ``-n`` makes sudo fail at once rather than prompt.
"""

from __future__ import annotations

import os

from mcptrace_core.config import PrivilegeSettings


class PrivilegeError(Exception):
    """Tracing needs root and there is no way to get it."""


def is_root() -> bool:
    return os.geteuid() == 0


def command_prefix(settings: PrivilegeSettings) -> list[str]:
    """What to put before a tracing command: nothing as root, the configured prefix otherwise."""
    if is_root():
        return []
    if settings.prefix:
        return list(settings.prefix)
    raise PrivilegeError(
        "tracing needs root and mcptrace runs as uid "
        f"{os.geteuid()}: run it as root, or set privilege.prefix = [\"sudo\", \"-n\"] in the config with a "
        "sudoers rule such as `youruser ALL=(root) NOPASSWD: /usr/bin/bpftrace` (never store a password)"
    )
