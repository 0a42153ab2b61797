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


def check_bind(settings: Settings) -> None:
    """Refuse to expose the server beyond this machine without a bearer token."""
    server = settings.server
    if server.transport == "http" and not is_loopback(server.host) and server.auth_token is None:
        raise ServeError(
            f"binding {server.host} exposes root-level tracing to the network: set server.auth_token in the "
            "config file (clients then send 'Authorization: Bearer <token>'), or bind 127.0.0.1"
        )


async def serve(settings: Settings) -> None:
    check_bind(settings)
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
                await _serve_http(server, settings)
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


async def _serve_http(server: Any, settings: Settings) -> None:
    import uvicorn

    app: Any = server.streamable_http_app(host=settings.server.host)
    token = settings.server.auth_token
    if token is not None:
        app = BearerTokenMiddleware(app, token.get_secret_value())
    config = uvicorn.Config(app, host=settings.server.host, port=settings.server.port, log_level="warning")
    log.info("http listening", url=f"http://{settings.server.host}:{settings.server.port}/mcp")
    await uvicorn.Server(config).serve()


class BearerTokenMiddleware:
    """Refuse every HTTP request that does not carry ``Authorization: Bearer <token>``."""

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
