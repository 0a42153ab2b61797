"""The streamable HTTP transport: loopback by default, a bearer token required beyond it and enforced."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.test_stdio import MCPTRACE

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_http(tmp_path: Path, config: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    env = {**os.environ, "MCPTRACE_CONFIG": str(path)}
    server = subprocess.Popen([MCPTRACE, "serve", "--transport", "http", "--port", str(port), *args],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
            socket.create_connection(("127.0.0.1" if host == "0.0.0.0" else host, port), timeout=0.2).close()
            return server, port
        except OSError:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.1)
    server.kill()
    raise AssertionError("server did not listen")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=20)


def _token_of(server: subprocess.Popen[bytes]) -> str:
    """The token the server announced on stderr at start."""
    assert server.stderr is not None
    while line := server.stderr.readline().decode():
        if "Authorization: Bearer " in line:
            return line.split("Authorization: Bearer ", 1)[1].split("'", 1)[0]
    raise AssertionError("the server did not announce its token")


async def test_loopback_needs_the_generated_token_too(tmp_path: Path) -> None:
    server, port = _serve_http(tmp_path, "")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        token = _token_of(server)
        token_file = Path(os.environ["XDG_CONFIG_HOME"]) / "mcptrace" / "http-token"
        assert token_file.read_text().strip() == token and len(token) >= 43  # 32 random bytes, base64
        assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.parent.stat().st_mode & 0o777 == 0o700
        async with httpx2.AsyncClient() as http:
            response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert response.status_code == 401
        authorized = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with authorized, Client(streamable_http_client(url, http_client=authorized)) as client:
            assert "exec_program" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        _stop(server)


@pytest.mark.parametrize("token", ["", "s3cret", "a" * 64, "correct horse battery staple is long"])
def test_weak_or_empty_tokens_are_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\nauth_token = "{token}"\n', encoding="utf-8")
    result = subprocess.run([MCPTRACE, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
                            capture_output=True, text=True, env={**os.environ, "MCPTRACE_CONFIG": str(path)}, timeout=30)
    assert result.returncode != 0
    assert "server.auth_token is too weak" in result.stderr and result.stdout == ""


STRONG = "Zq8v-3JkL0pX_aT9mWc2Rb7Ue4Ys1Nd6Hf5Gi0Oj"


async def test_the_configured_bearer_token_is_required(tmp_path: Path) -> None:
    server, port = _serve_http(tmp_path, f'[server]\nauth_token = "{STRONG}"\n', "--host", "0.0.0.0")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx2.AsyncClient() as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": STRONG},
                            {"Authorization": f"Bearer {STRONG[:-1]}"}):
                response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
                assert response.status_code == 401, headers
        authorized = httpx2.AsyncClient(headers={"Authorization": f"Bearer {STRONG}"})
        async with authorized, Client(streamable_http_client(url, http_client=authorized)) as client:
            assert "exec_program" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        _stop(server)
