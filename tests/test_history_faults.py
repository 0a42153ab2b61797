"""A history file that cannot be used (read-only, corrupt, newer, disabled): one clear error in the log,
search_history says why, and everything else keeps working."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from mcptrace_core.config import HistorySettings, Settings
from mcptrace_core.history.store import HistoryStore
from mcptrace_core.server import build_server
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.history_support import history_settings

pytestmark = [pytest.mark.anyio, requires_bpftrace]

PROGRAM = 'BEGIN { printf("still tracing\\n"); exit(); }'


def make_store_with_runs(path: Path) -> None:
    """A real history file holding a few runs, written the way the server writes them."""
    store = HistoryStore.open(HistorySettings(path=path))
    assert store.available, store.problem
    store.close()
    with sqlite3.connect(path) as conn:  # rows as the recorder writes them, without running bpftrace here
        for n in range(50):
            conn.execute(
                "INSERT INTO runs (id, backend, label, program, parameters, status, started_at, host, owner_pid, "
                "owner_boot, owner_start, text_hash) VALUES (?, 'bpftrace', 'x', ?, '{}', 'completed', 0, '{}', 1, "
                "'b', 1, ?)",
                (f"run{n:08d}", f"BEGIN {{ printf(\"{n}\"); }}" * 40, f"hash{n}"),
            )


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A history file the kernel refuses to write, even for root (chattr +i)."""
    path = tmp_path / "history.sqlite3"
    make_store_with_runs(path)
    if subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True).returncode != 0:
        pytest.skip(f"the file system of {tmp_path} does not support the immutable attribute (chattr +i)")
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


def garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database\n" * 400)
    return path


def damaged(path: Path) -> Path:
    """A real history file whose pages after the first are overwritten: the schema is readable, the tables not."""
    make_store_with_runs(path)
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = bytes((i * 37) % 251 for i in range(len(data) - page))
    path.write_bytes(bytes(data))
    return path


def newer(path: Path) -> Path:
    make_store_with_runs(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    return path


async def serving(settings: Settings) -> AsyncIterator[tuple[Services, Any]]:
    from mcp import Client

    services = Services.create(settings)
    try:
        async with Client(build_server(services), mode="legacy") as client:
            yield services, client
    finally:
        await services.aclose()


async def assert_serves_without_history(settings: Settings, reason: str) -> None:
    with capture_logs() as logs:
        await _serve_and_check(settings, reason)
    errors = [entry for entry in logs if entry["event"] == "history unavailable" and entry["log_level"] == "error"]
    assert len(errors) == 1, f"the reason is logged once as an error: {errors}"
    assert reason in errors[0]["error"]


async def _serve_and_check(settings: Settings, reason: str) -> None:
    async for services, client in serving(settings):
        assert not services.history.available and reason in (services.history.problem or "")
        result = await client.call_tool("exec_program", {"program": PROGRAM, "wait": True})
        assert not result.is_error, result.content
        assert result.structured_content["status"] == "completed"
        assert "still tracing" in result.structured_content["lines"]
        live = await client.call_tool("get_result", {"execution_id": result.structured_content["execution_id"]})
        assert not live.is_error and live.structured_content["status"] == "completed"
        for _ in range(2):
            found = await client.call_tool("search_history", {"query": "tracing"})
            assert found.is_error
            assert "history unavailable" in found.content[0].text and reason in found.content[0].text
        missing = await client.call_tool("get_result", {"execution_id": "0123456789ab"})
        assert missing.is_error and "no execution with id" in missing.content[0].text


async def test_read_only_history_file(tmp_path: Path, immutable: Path) -> None:
    await assert_serves_without_history(history_settings(tmp_path), "readonly database")


@pytest.mark.parametrize(
    ("make", "reason"),
    [(garbage, "file is not a database"), (damaged, "malformed"), (newer, "written by a newer mcptrace")],
    ids=["garbage", "damaged-pages", "newer-schema"],
)
async def test_unusable_history_file(tmp_path: Path, make: Any, reason: str) -> None:
    make(tmp_path / "history.sqlite3")
    await assert_serves_without_history(history_settings(tmp_path), reason)


async def test_disabled_history_records_nothing_and_says_so(tmp_path: Path) -> None:
    async for services, client in serving(history_settings(tmp_path, enabled=False)):
        result = await client.call_tool("exec_program", {"program": PROGRAM, "wait": True})
        assert result.structured_content["status"] == "completed"
        found = await client.call_tool("search_history", {"query": "tracing"})
        assert found.is_error and "history.enabled = false" in found.content[0].text
    assert not (tmp_path / "history.sqlite3").exists()
