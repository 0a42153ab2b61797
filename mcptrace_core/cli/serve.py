"""`mcptrace serve`: the MCP server."""

from __future__ import annotations

import asyncio

import click

from mcptrace_core.cli.common import CliState


@click.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default=None,
              help="stdio (default: the client starts the server) or streamable HTTP.")
@click.option("--host", default=None, help="HTTP bind address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port (default 8765).")
@click.option("--unix-socket", type=click.Path(dir_okay=False), default=None,
              help="With --transport http: listen on this Unix socket (only this user and root may connect).")
@click.pass_obj
def serve(state: CliState, transport: str | None, host: str | None, port: int | None, unix_socket: str | None) -> None:
    """Run the MCP server (stdio by default).

    An MCP client starts `mcptrace serve` and talks to it over stdin/stdout; logs go to stderr as JSON
    lines. With --transport http the server listens on http://HOST:PORT/mcp, on loopback unless told
    otherwise, and then only with a bearer token from the config file.
    """
    from mcptrace_core.serving import ServeError, serve as serve_forever  # the MCP SDK only when serving
    from mcptrace_core.private import private_umask

    private_umask()  # the server writes history, audit and caches: nothing it creates is for other users

    flags = {"transport": transport, "host": host, "port": port, "unix_socket": unix_socket}
    settings = state.settings(serving=True, server={k: v for k, v in flags.items() if v is not None})
    try:
        asyncio.run(serve_forever(settings))
    except ServeError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        pass
