"""Everything mcptrace writes is its owner's only: history, audit log, caches, the HTTP token, and a client
config that holds the token; files an older version left open are tightened on start."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import requires_bpftrace
from tests.test_stdio import MCPTRACE

pytestmark = pytest.mark.anyio


def _own_dirs(tmp_path: Path) -> dict[str, str]:
    return {f"XDG_{kind}_HOME": str(tmp_path / kind.lower()) for kind in ("CONFIG", "DATA", "CACHE", "STATE")}


def _modes(root: Path) -> dict[str, int]:
    """Every file and folder under ``root``'s mcptrace folders, by path, with its permission bits."""
    found = {}
    for base in root.iterdir():
        for path in [base / "mcptrace", *(base / "mcptrace").rglob("*")]:
            if path.exists() and not path.is_symlink():
                found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


@requires_bpftrace
async def test_every_file_a_server_writes_is_private_and_old_ones_are_tightened(tmp_path: Path) -> None:
    dirs = _own_dirs(tmp_path)
    history = tmp_path / "data" / "mcptrace" / "history.sqlite3"
    audit = tmp_path / "state" / "mcptrace" / "audit.jsonl"
    for path in (history, audit):  # what an older mcptrace left: world-readable files in open folders
        path.parent.mkdir(parents=True, mode=0o755)
        path.parent.chmod(0o755)
    sqlite3.connect(history).close()
    audit.write_text("")
    for path in (history, audit):
        path.chmod(0o644)
    env = {**os.environ, **dirs, "MCPTRACE_CONFIG": str(tmp_path / "absent.toml")}
    saved_umask = os.umask(0o022)  # the test must not pass merely because the caller's umask is strict
    try:
        async with Client(StdioServerParameters(command=MCPTRACE, args=["serve"], env=env)) as client:
            ran = await client.call_tool("exec_program", {
                "program": 'BEGIN { printf("secret output\\n"); exit(); }', "wait": True})
            assert not ran.is_error and "secret output" in ran.structured_content["lines"]
            refused = await client.call_tool("exec_program", {"program": 'BEGIN { system("id"); }'})
            assert refused.is_error
    finally:
        os.umask(saved_umask)
    modes = _modes(tmp_path)
    assert "data/mcptrace/history.sqlite3" in modes and "state/mcptrace/audit.jsonl" in modes
    assert "cache/mcptrace" in modes
    loose = {path: oct(mode) for path, mode in modes.items()
             if mode & 0o077 or (os.path.isdir(tmp_path / path) and mode != 0o700)}
    assert not loose, loose


def test_the_http_token_goes_into_the_client_config_privately(tmp_path: Path) -> None:
    env = {**os.environ, **_own_dirs(tmp_path), "MCPTRACE_CONFIG": str(tmp_path / "absent.toml")}
    target = tmp_path / "client" / ".mcp.json"
    result = subprocess.run([MCPTRACE, "install", "claude-code", "--transport", "http", "--path", str(target)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    entry = json.loads(target.read_text())["mcpServers"]["mcptrace"]
    token_file = tmp_path / "config" / "mcptrace" / "http-token"
    assert entry["type"] == "http" and entry["url"] == "http://127.0.0.1:8765/mcp"
    assert entry["headers"]["Authorization"] == f"Bearer {token_file.read_text().strip()}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    again = subprocess.run([MCPTRACE, "install", "claude-code", "--transport", "http", "--print"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(again.stdout)["mcpServers"]["mcptrace"] == entry  # the token is made once, then reused
