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
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.1)
    server.kill()
    raise AssertionError("server did not listen")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=20)


async def test_loopback_without_a_token(tmp_path: Path) -> None:
    server, port = _serve_http(tmp_path, "")
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "exec_program" in names
    finally:
        _stop(server)


def test_binding_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    result = subprocess.run([MCPTRACE, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
                            capture_output=True, text=True, env={**os.environ, "MCPTRACE_CONFIG": str(path)}, timeout=30)
    assert result.returncode != 0
    assert "server.auth_token" in result.stderr and result.stdout == ""


async def test_the_bearer_token_is_required_when_configured(tmp_path: Path) -> None:
    server, port = _serve_http(tmp_path, '[server]\nauth_token = "correct horse battery staple"\n', "--host", "0.0.0.0")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx2.AsyncClient() as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "correct horse battery staple"}):
                response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
                assert response.status_code == 401, headers
        authorized = httpx2.AsyncClient(headers={"Authorization": "Bearer correct horse battery staple"})
        async with authorized, Client(streamable_http_client(url, http_client=authorized)) as client:
            assert "exec_program" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        _stop(server)
