"""The BCC tools in the capability index: found from plain questions, runnable as measured here.

Run against a cache of their own, as on a fresh install: the index reads only what the catalog has
learned, so it has no BCC tool until list_bcc_tools (or `mcptrace index build`) learns them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from tests.test_bcc import NO_KPROBES, _call, requires_bcc
from tests.validation_support import mcp_client, settings_with

pytestmark = [pytest.mark.anyio, requires_bcc]

QUESTIONS = {  # a plain question -> the usable tool that answers it
    "show new processes as they start": "execsnoop",
    "which files are being opened": "opensnoop",
    "count system calls by type": "syscount",
    "disk I/O latency distribution": "biolatency",
    "trace signals sent to processes": "killsnoop",
    "what commands are typed in bash": "bashreadline",
}


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's user cache without what the BCC catalog learned (as on a fresh install; what other
    parts measured, such as the probe types, is kept), shared by this module's tests."""
    fresh = tmp_path_factory.mktemp("fresh") / "cache"
    session = Path(os.environ["XDG_CACHE_HOME"])
    if session.is_dir():
        shutil.copytree(session, fresh, ignore=shutil.ignore_patterns("bcc-*.json"))
    yield fresh


async def _bcc_hits(client: Any, query: str, **arguments: Any) -> list[dict[str, Any]]:
    found = await _call(client, "find_capabilities", query=query, kinds=["bcc_tool"], **arguments)
    return list(found["results"])


async def test_a_fresh_install_has_no_bcc_tool_indexed_until_they_are_learned(
    tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh_cache))
    async with mcp_client(settings_with(tmp_path)) as (client, _):
        assert await _bcc_hits(client, "show new processes as they start") == []  # nothing run to find out
        await _call(client, "list_bcc_tools", limit=1)  # learns every tool, and refreshes the index
        for question, tool in QUESTIONS.items():
            (best,) = await _bcc_hits(client, question, limit=1, runnable_only=True)
            assert best["id"] == tool, (question, best)
            assert best["runnable"] and best["missing"] == [] and f"tool_name={tool!r}" in best["usage"]
        execsnoop = (await _bcc_hits(client, "execsnoop", limit=3))[0]
        assert execsnoop["id"] == "execsnoop" and "new processes" in execsnoop["description"]
        if NO_KPROBES:
            (tcpconnect,) = [hit for hit in await _bcc_hits(client, "tcpconnect", limit=3) if "tcpconnect" in hit["id"]]
            assert not tcpconnect["runnable"] and "kprobes" in tcpconnect["missing"][0]
        names = [hit["id"] for hit in await _bcc_hits(client, "opensnoop", limit=10)]
        assert "opensnoop" in names and "opensnoop-bpfcc" not in names  # one capability per tool


def test_index_build_learns_the_bcc_tools_first(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh_cache))
    runner = CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})
    built = runner.invoke(cli, ["index", "build", "--json"])
    assert built.exit_code == 0, built.output
    data = json.loads(built.stdout)
    assert data["by_kind"]["bcc_tool"] >= 20
