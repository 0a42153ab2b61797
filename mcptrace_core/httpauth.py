"""Who may talk to the HTTP transport: only the holder of a bearer token, on every bind address.

Over stdio the client started the server and already has its privileges. Over HTTP anyone who can
connect is a client, and a client may answer the server's confirmation questions itself, so without
authentication any local user could run ``system()`` as the server's user. The token is generated on
first start (``TOKEN_BYTES`` random bytes from ``secrets``) into ``http-token`` in the user config
folder, 0600, unless ``server.auth_token`` sets one; a short or repetitive token is refused.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from mcptrace_core.config import Settings
from mcptrace_core.private import FILE_MODE, private_dir, tighten

TOKEN_BYTES = 32
MIN_TOKEN_CHARS = 32
MIN_DISTINCT_CHARS = 10
TOKEN_FILE = "http-token"


class TokenError(Exception):
    """The token cannot be used; the message says what to do."""


def token_path() -> Path:
    """Where the generated token lives: the user config folder (XDG_CONFIG_HOME), never next to an
    arbitrary --config file."""
    from platformdirs import user_config_path

    return user_config_path("mcptrace") / TOKEN_FILE


def weakness(token: str) -> str | None:
    """Why ``token`` is too weak to guard root-level tracing, or None."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"{len(token)} characters, at least {MIN_TOKEN_CHARS} are needed"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return f"only {len(set(token))} different characters, at least {MIN_DISTINCT_CHARS} are needed"
    if any(character.isspace() or not character.isprintable() for character in token):
        return "it holds spaces or control characters"
    return None


def server_token(settings: Settings) -> tuple[str, str]:
    """The token HTTP clients must send and where it comes from (for the start-up message)."""
    configured = settings.server.auth_token
    if configured is not None:
        token = configured.get_secret_value()
        problem = weakness(token)
        if problem:
            raise TokenError(
                f"server.auth_token is too weak ({problem}); remove it to use the generated token in "
                f"{token_path()}, or set one from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return token, "server.auth_token"
    path = token_path()
    return load_or_create(path), str(path)


def load_or_create(path: Path) -> str:
    """Read the token file, creating it (0600, O_EXCL: two servers starting together agree) if absent."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return _read(path)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token


def _read(path: Path) -> str:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        why = "it is a symlink" if error.errno == errno.ELOOP else error.strerror
        raise TokenError(f"the token file {path} cannot be read ({why}); remove it to have a new one made") from None
    with os.fdopen(descriptor, encoding="ascii", errors="replace") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise TokenError(f"the token file {path} is not a regular file of this user; remove it")
        token = handle.read().strip()
    tighten(path, FILE_MODE)
    problem = weakness(token)
    if problem:
        raise TokenError(f"the token in {path} is too weak ({problem}); remove the file to have a new one made")
    return token


def peer_checked_protocol() -> type:
    """uvicorn's HTTP protocol, refusing a Unix-socket peer of another user (SO_PEERCRED).

    uvicorn makes its socket 0666, so the file mode does not keep other users out: the kernel's word on
    who connected does. Root may connect too (it could read the token anyway)."""
    import socket
    import struct

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerCheckedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            connection = transport.get_extra_info("socket")
            if connection is None or connection.family != socket.AF_UNIX:
                return
            credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", credentials)
            if uid not in (os.geteuid(), 0):
                transport.close()

    return PeerCheckedH11Protocol


def client_entry(settings: Settings) -> dict[str, object]:
    """How an MCP client reaches ``mcptrace serve --transport http``: its URL and the bearer token (the
    token is created now if the server has not made it yet, so the two agree)."""
    token, _ = server_token(settings)
    server = settings.server
    host = f"[{server.host}]" if ":" in server.host else server.host
    if host in ("0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return {"type": "http", "url": f"http://{host}:{server.port}/mcp", "headers": {"Authorization": f"Bearer {token}"}}
