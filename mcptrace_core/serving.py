"""Serve MCP over stdio or streamable HTTP until the client leaves or a signal arrives.

Whatever ends the server (stdin EOF, SIGTERM, SIGINT, an error), every run is stopped before the
process exits; the children's PR_SET_PDEATHSIG covers the case where the server is killed outright.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import signal
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from mcptrace_core.config import Settings
from mcptrace_core.logging import get_logger
from mcptrace_core.server import build_server
from mcptrace_core.services import Services

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
PRELOAD_AFTER_S = 0.3
"""How long after start the search preload waits: a client's initialize and tools/list come first."""


class ServeError(Exception):
    """The server cannot start with these settings."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> str | None:
    """The HTTP token clients must send (None over stdio); ServeError when it is missing or weak."""
    if settings.server.transport != "http":
        return None
    from mcptrace_core.httpauth import TokenError, server_token

    try:
        token, source = server_token(settings)
    except (TokenError, OSError) as error:
        raise ServeError(str(error)) from None
    announce_http(settings, token, source)
    return token


def announce_http(settings: Settings, token: str, source: str) -> None:
    """Tell the person who started the server how a client connects (stderr: stdout is never ours to use)."""
    import sys

    server = settings.server
    host = f"[{server.host}]" if ":" in server.host else server.host
    where = f"the Unix socket {server.unix_socket} (path /mcp)" if server.unix_socket else f"http://{host}:{server.port}/mcp"
    print(
        f"mcptrace: MCP over HTTP at {where}\n"
        f"mcptrace: clients must send 'Authorization: Bearer {token}' (token from {source})",
        file=sys.stderr, flush=True,
    )


def allowed_hosts(settings: Settings) -> list[str]:
    """Host header values accepted (DNS rebinding): the bind address, loopback names when loopback is
    reachable through the bind, and server.allowed_hosts; each with the port and without."""
    server = settings.server
    bind = server.host.strip("[]")
    names = [f"[{bind}]" if ":" in bind else bind]
    if is_loopback(bind) or bind in ("0.0.0.0", "::"):
        names += ["127.0.0.1", "localhost", "[::1]"]
    names += server.allowed_hosts
    hosts = []
    for name in dict.fromkeys(names):
        hosts += [f"{name}:{server.port}", name]
    return hosts


def _transport_security(settings: Settings) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = allowed_hosts(settings)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


async def serve(settings: Settings) -> None:
    token = check_bind(settings)
    services = Services.create(settings)
    server = build_server(services)
    log.info("serving", transport=settings.server.transport, tools=len(services.registry.tools))
    try:
        async with anyio.create_task_group() as background:
            if settings.search.preload and settings.server.transport == "stdio":
                # stdio: a client starts a new server per session and searches soon. (Over HTTP the
                # preload's pack reading on the event loop delayed the bind; there the first search loads.)
                background.start_soon(preload_search, services)
            if settings.server.transport == "stdio":
                await _serve_stdio(server)
            else:
                assert token is not None
                await _serve_http(server, settings, token)
            background.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await services.aclose()
        log.info("server stopped")


async def preload_search(services: Services) -> None:
    """Load the search index and the model while the client is busy with other things.

    Started with the server, after ``PRELOAD_AFTER_S``, so that the handshake and tools/list are answered
    first; the heavy parts (model load, embedding) run in worker threads. A failure is logged: the first
    search tries again and reports it.
    """
    await anyio.sleep(PRELOAD_AFTER_S)
    try:
        await services.search.index()
    except Exception as error:  # isolation boundary: a broken index must not stop the server
        log.warning("search preload failed; the first search will try again", error=f"{type(error).__name__}: {error}")


async def _serve_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with anyio.create_task_group() as group, cancellable_stdin() as stdin:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
                async for signum in signals:
                    log.info("signal received, shutting down", signal=signal.Signals(signum).name)
                    group.cancel_scope.cancel()
                    return

        group.start_soon(stop_on_signal)
        async with stdio_server(stdin=stdin) as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
        log.info("client disconnected")
        group.cancel_scope.cancel()


@asynccontextmanager
async def cancellable_stdin() -> AsyncIterator[Any]:
    """stdin as async lines that a cancellation can interrupt (a signal must not wait for the client).

    The SDK reads stdin in a worker thread that only returns when a line or EOF arrives, so SIGTERM
    could not end the server while the client stays silent. Pipes, sockets and terminals are read
    through the event loop instead; for anything else (a regular file) the SDK's own reader is used.
    fd 0 is pointed at /dev/null meanwhile, so nothing else can consume protocol bytes.
    """
    fd = os.dup(0)
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        os.close(fd)
        yield None
        return
    reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        yield _Lines(reader)
    finally:
        transport.close()


class _Lines:
    """Async iterator of text lines, as the SDK's stdio transport consumes stdin."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if not end.partial:
                raise StopAsyncIteration from None
            line = end.partial
        except asyncio.LimitOverrunError as overrun:
            await self._reader.readexactly(overrun.consumed)  # drop the oversized message, keep serving
            log.warning("dropped an oversized message", limit=MAX_MESSAGE_BYTES)
            return "{}"
        return line.decode("utf-8", "replace")


async def _serve_http(server: Any, settings: Settings, token: str) -> None:
    """Every request needs the bearer token and an allowed Host (and Origin, when sent), on every address."""
    import uvicorn

    app: Any = server.streamable_http_app(host=settings.server.host, transport_security=_transport_security(settings))
    app = BearerTokenMiddleware(app, token)
    from mcptrace_core.httpauth import peer_checked_protocol

    socket_path = settings.server.unix_socket
    config = uvicorn.Config(
        app, host=settings.server.host, port=settings.server.port, log_level="warning", http=peer_checked_protocol(),
        uds=str(socket_path) if socket_path else None,
    )
    log.info("http listening", url=f"unix:{socket_path}" if socket_path else
             f"http://{settings.server.host}:{settings.server.port}/mcp")
    await uvicorn.Server(config).serve()


class BearerTokenMiddleware:
    """Refuse every HTTP request that does not carry ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send({
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                })
                await send({"type": "http.response.body", "body": b'{"error": "missing or wrong bearer token"}'})
                return
        await self.app(scope, receive, send)
