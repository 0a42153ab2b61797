"""SSH connections to the fleet's hosts, through asyncssh, with OpenSSH's files and strict host keys.

Host keys are checked against known_hosts and an unknown or changed key is refused: a fleet run sends
a program to be run as root, so talking to the wrong machine is never acceptable. ``mcptrace fleet
accept HOST`` is the one way a new key gets in (it shows the fingerprint and appends the line). Client
keys and the agent are used as OpenSSH uses them: the ssh config's IdentityFile, ~/.ssh/id_*, and
SSH_AUTH_SOCK.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcptrace_core.config import FleetSettings

from mcptrace_fleet.inventory import Host


class ConnectError(Exception):
    """A host could not be reached or logged in to; the message says which step failed and the fix."""

    def __init__(self, message: str, category: str = "resource") -> None:
        super().__init__(message)
        self.category = category
        """'permission' when the host refused us or we refused its key; 'resource' when it could not be reached."""


def asyncssh() -> Any:
    """asyncssh, imported on first use (it is not needed unless a fleet is used); its DSA warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import asyncssh as module
    return module


@dataclass(frozen=True)
class SshFiles:
    """The OpenSSH client files in force."""

    known_hosts: Path
    ssh_config: Path | None

    @classmethod
    def of(cls, settings: FleetSettings) -> SshFiles:
        known = settings.known_hosts or Path("~/.ssh/known_hosts")
        config = settings.ssh_config or Path("~/.ssh/config")
        config = config.expanduser()
        return cls(known.expanduser(), config if config.exists() else None)


def connect_options(host: Host, files: SshFiles, timeout_s: float) -> dict[str, Any]:
    options: dict[str, Any] = {
        "known_hosts": str(files.known_hosts) if files.known_hosts.exists() else (),
        "connect_timeout": timeout_s,
        "login_timeout": timeout_s,
        "config": [str(files.ssh_config)] if files.ssh_config else [],
        "keepalive_interval": 15,
        "keepalive_count_max": 4,
    }
    if host.port is not None:
        options["port"] = host.port
    if host.user is not None:
        options["username"] = host.user
    if host.key_file is not None:
        options["client_keys"] = [str(Path(host.key_file).expanduser())]
    return options


async def connect(host: Host, files: SshFiles, timeout_s: float) -> Any:
    """An open connection to ``host``; ConnectError with the reason and fix otherwise."""
    ssh = asyncssh()
    target = host.address or host.name
    try:
        return await asyncio.wait_for(
            ssh.connect(target, **connect_options(host, files, timeout_s)), timeout_s + 1
        )
    except ssh.HostKeyNotVerifiable as error:
        raise ConnectError(
            f"host key of {target} not verified against {files.known_hosts} ({error.reason}); if you trust the "
            f"host, run `mcptrace fleet accept {host.name}` (a changed key needs its old line removed first: "
            f"ssh-keygen -R)", "permission",
        ) from None
    except ssh.PermissionDenied as error:
        raise ConnectError(
            f"login to {target} refused ({error.reason}): check the user and the key or agent", "permission"
        ) from None
    except (TimeoutError, asyncio.TimeoutError):
        raise ConnectError(f"no answer from {target} within {timeout_s:g} s (fleet.connect_timeout_s)") from None
    except ssh.Error as error:
        raise ConnectError(f"ssh to {target} failed: {error.reason}") from None
    except OSError as error:
        raise ConnectError(f"cannot connect to {target}: {error.strerror or error}") from None


async def fetch_host_key(host: Host, files: SshFiles, timeout_s: float) -> tuple[str, str, str]:
    """The key a host presents, unverified: (known_hosts pattern, key line, SHA256 fingerprint)."""
    ssh = asyncssh()
    target = host.address or host.name
    options = {k: v for k, v in connect_options(host, files, timeout_s).items() if k in ("port", "config")}
    try:
        key = await asyncio.wait_for(ssh.get_server_host_key(target, **options), timeout_s)
    except (OSError, ssh.Error, TimeoutError) as error:
        raise ConnectError(f"cannot fetch the host key of {target}: {error}") from None
    if key is None:
        raise ConnectError(f"{target} presented no host key")
    port = host.port or 22
    pattern = target if port == 22 else f"[{target}]:{port}"
    line = key.export_public_key("openssh").decode("ascii").strip()
    return pattern, line, key.get_fingerprint("sha256")


def accept_host_key(known_hosts: Path, pattern: str, key_line: str) -> str:
    """Append ``pattern key_line`` to known_hosts unless this host already has a key there.

    A host with a different key is refused: a changed key is what an attacker in the middle looks
    like, so the user removes the old line (``ssh-keygen -R``) knowingly.
    """
    ssh = asyncssh()
    known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if known_hosts.exists():
        for line in known_hosts.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 3 and pattern in fields[0].split(","):
                if " ".join(fields[1:3]) == " ".join(key_line.split()[:2]):
                    return "already known"
                raise ConnectError(
                    f"{pattern} already has another key in {known_hosts}: if the host was really re-keyed, remove "
                    f"the old line with `ssh-keygen -R '{pattern}' -f {known_hosts}` and accept again"
                )
    ssh.import_public_key(key_line)  # refuse anything that is not a public key line
    with known_hosts.open("a", encoding="utf-8") as handle:
        handle.write(f"{pattern} {' '.join(key_line.split()[:2])}\n")
    return "added"
