"""`mcptrace serve` loads the search index in the background once it is up, without a search asking."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

MCPTRACE = shutil.which("mcptrace") or str(Path(sys.executable).with_name("mcptrace"))


def _send(process: subprocess.Popen[bytes], message: dict) -> None:  # type: ignore[type-arg]
    process.stdin.write(json.dumps(message).encode() + b"\n")  # type: ignore[union-attr]
    process.stdin.flush()  # type: ignore[union-attr]


def _events(process: subprocess.Popen[bytes], until: str, timeout: float) -> list[str]:  # type: ignore[type-arg]
    """Log events from the server's stderr (JSON lines) until ``until`` is seen or ``timeout`` passes."""
    seen: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        if not selector.select(timeout=1.0):
            continue
        line = process.stderr.readline()  # type: ignore[union-attr]
        if not line:
            break
        try:
            seen.append(json.loads(line)["event"])
        except (ValueError, KeyError, TypeError):
            continue
    return seen


def _serve(tmp_path: Path, preload: bool) -> subprocess.Popen[bytes]:  # type: ignore[type-arg]
    config = tmp_path / "config.toml"
    config.write_text(f"[search]\npreload = {'true' if preload else 'false'}\n[history]\nenabled = false\n")
    env = {**os.environ, "MCPTRACE_CONFIG": str(config), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    process = subprocess.Popen([MCPTRACE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    _send(process, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}})
    _send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    _send(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:  # type: ignore[type-arg]
    process.stdin.close()  # type: ignore[union-attr]
    process.wait(timeout=60)


def test_the_index_is_ready_before_any_search(tmp_path: Path) -> None:
    process = _serve(tmp_path, preload=True)
    try:
        events = _events(process, "search index ready", timeout=240)
        assert "search index ready" in events, events
    finally:
        _stop(process)
