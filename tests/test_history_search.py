"""search_history over a real MCP session: words, meaning, filters, fix links, and honest reporting of how
runs were found."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mcptrace_core.history.lexical import fts_expression, query_terms
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.history_support import FakeTrigramEmbedder, history_settings, plugins_with, session

pytestmark = [pytest.mark.anyio, requires_bpftrace]

OPENS = 'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }'
SYSCALLS = "tracepoint:raw_syscalls:sys_enter { @syscalls[comm] = count(); }"
SCHED = "tracepoint:sched:sched_switch { @switches[args->prev_comm] = count(); }"
BROKEN = 'tracepoint:sched:sched_switch { @switches[args->prev_comm] = count() exit(); }'
UNVERIFIABLE = "BEGIN { $i = 0; while ($i >= 0) { @ = 1; } exit(); }"
"""Passes validation (bpftrace -d runs no verifier); the kernel verifier rejects it when it runs."""


async def run(client: Any, program: str, timeout_s: float = 1.0) -> str:
    result = await client.call_tool("exec_program", {"program": program, "timeout_s": timeout_s, "wait": True})
    assert not result.is_error, result.content
    return str(result.structured_content["execution_id"])


async def search(client: Any, services: Services, **arguments: Any) -> dict[str, Any]:
    services.history.flush()
    result = await client.call_tool("search_history", arguments)
    assert not result.is_error, result.content
    return dict(result.structured_content)


async def test_words_filters_and_fix_links(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path), plugins=plugins_with(None))
    async for client in session(services):
        opens = await run(client, OPENS)
        syscalls = await run(client, SYSCALLS)
        refused = await client.call_tool("exec_program", {"program": BROKEN, "timeout_s": 1.0, "wait": True})
        assert refused.is_error and "does not pass validation" in refused.content[0].text
        looping = await run(client, UNVERIFIABLE)
        sched = await run(client, SCHED)

        found = await search(client, services, query="openat filename")
        assert found["search"] == "words" and "'onnx-minilm' is not loaded" in found["note"]
        assert found["runs"][0]["id"] == opens and found["runs"][0]["matched"] == "words"
        assert found["runs"][0]["status"] == "timed_out" and found["runs"][0]["program"] == OPENS
        assert found["runs"][0]["verdict"] == "allow"

        found = await search(client, services, query="sched_switch prev_comm")
        by_status = {hit["status"]: hit for hit in found["runs"][:2]}
        assert set(by_status) == {"timed_out", "refused"}, "programs with every word come before those with 'comm' only"
        broken = by_status["refused"]
        assert by_status["timed_out"]["id"] == sched and broken["program"] == BROKEN
        assert broken["error_category"] == "syntax" and "unexpected 'exit'" in broken["error"]  # mcptrace's own parser
        assert broken["exit_code"] is None and broken["duration_s"] == 0
        assert broken["likely_fixed_by"] == sched and broken["fixed_by"] is None
        assert broken["fix_program"] == SCHED and by_status["timed_out"]["fix_program"] is None

        found = await search(client, services, query="sched_switch prev_comm", include_failed=False)
        assert found["runs"][0]["id"] == sched and "refused" not in [hit["status"] for hit in found["runs"]]
        found = await search(client, services, query="", status="refused")
        assert found["search"] == "recent" and [hit["id"] for hit in found["runs"]] == [broken["id"]]
        found = await search(client, services, query="", status="failed")
        assert [hit["id"] for hit in found["runs"]] == [looping]
        assert found["runs"][0]["error_category"] == "verifier" and found["runs"][0]["verdict"] == "allow"
        found = await search(client, services, query="", time_range="1h", limit=3)
        assert [hit["id"] for hit in found["runs"]] == [sched, looping, broken["id"]]
        assert syscalls not in [hit["id"] for hit in (await search(client, services, query="openat"))["runs"]]

        never_ran = await client.call_tool("get_result", {"execution_id": broken["id"]})
        assert never_ran.is_error and "never ran" in never_ran.content[0].text

        refused = await client.call_tool("search_history", {"query": "x", "status": "refused", "include_failed": False})
        assert refused.is_error and "contradicts include_failed" in refused.content[0].text
        refused = await client.call_tool("search_history", {"query": "x", "time_range": "yesterday"})
        assert refused.is_error and "time_range" in refused.content[0].text


async def test_query_text_never_reaches_fts_syntax(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path), plugins=plugins_with(None))
    async for client in session(services):
        await run(client, OPENS)
        for query in ['"unbalanced', "NEAR(a b)", "openat*", "comm:x", "AND OR NOT", "-- ; DROP TABLE runs", "ü→∑"]:
            result = await client.call_tool("search_history", {"query": query})
            assert not result.is_error, (query, result.content)
    assert fts_expression(query_terms('say "hi" OR drop* the'), "OR") == '"say" OR "hi" OR "drop"'
    assert query_terms("which is the") == ["which", "is", "the"]  # only stopwords: keep them
    assert query_terms("*** ---") == []


async def test_meaning_path_embeds_lazily_caches_vectors_and_fuses(tmp_path: Path) -> None:
    embedder = FakeTrigramEmbedder()
    services = Services.create(history_settings(tmp_path, embedder=embedder.name), plugins=plugins_with(embedder))
    async for client in session(services):
        opens = await run(client, OPENS)
        await run(client, SYSCALLS)
        await run(client, OPENS)  # the same text: embedded once
        assert embedder.texts_embedded == 0, "recording a run never embeds"

        # No word in common with the program:
        found = await search(client, services, query="files opened with their names")
        assert found["search"] == "words+meaning" and found["note"] is None
        top = found["runs"][0]
        assert top["program"] == OPENS and top["matched"] == "meaning" and top["repeats"] == 2
        assert top["id"] != opens  # the newest of the two identical runs
        first_cost = embedder.texts_embedded
        assert first_cost == 2 + 1  # two distinct run texts, one query

        found = await search(client, services, query="openat filename")
        assert found["runs"][0]["program"] == OPENS and found["runs"][0]["matched"] == "both"
        assert embedder.texts_embedded == first_cost + 1, "stored vectors are reused"
    with sqlite3.connect(tmp_path / "history.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM vectors WHERE model_id = 'fake-trigram-v1'").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM embed_queue").fetchone()[0] == 0

    newer_model = FakeTrigramEmbedder(version="2")
    services = Services.create(history_settings(tmp_path, embedder=newer_model.name), plugins=plugins_with(newer_model))
    async for client in session(services):
        found = await search(client, services, query="files opened with their names")
        assert found["runs"][0]["program"] == OPENS
        assert newer_model.texts_embedded == 2 + 1, "another model embeds every text again"
    with sqlite3.connect(tmp_path / "history.sqlite3") as conn:
        assert {row[0] for row in conn.execute("SELECT DISTINCT model_id FROM vectors")} == {"fake-trigram-v2"}


async def test_a_failing_embedder_costs_the_meaning_not_the_search(tmp_path: Path) -> None:
    broken = FakeTrigramEmbedder(fail=True)
    services = Services.create(history_settings(tmp_path, embedder=broken.name), plugins=plugins_with(broken))
    async for client in session(services):
        opens = await run(client, OPENS)
        found = await search(client, services, query="openat")
        assert found["search"] == "words" and "broken on purpose" in found["note"]
        assert [hit["id"] for hit in found["runs"]] == [opens]


async def test_meaning_with_the_registered_embedder(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))  # every installed plugin, as `mcptrace serve` loads them
    assert services.registry.embedders and services.registry.embedders[0].name == "onnx-minilm"
    async for client in session(services):
        syscalls = await run(client, SYSCALLS)
        sched = await run(client, SCHED)
        opens = await run(client, OPENS)
        found = await search(client, services, query="which files are being opened by programs")
        assert found["search"] == "words+meaning" and found["note"] is None
        assert found["runs"][0]["id"] == opens and found["runs"][0]["matched"] == "meaning"
        found = await search(client, services, query="system call totals per process name")
        assert found["runs"][0]["id"] == syscalls and found["runs"][0]["matched"] == "meaning"
        found = await search(client, services, query="how often does a cpu switch between tasks")
        assert found["runs"][0]["id"] == sched
        found = await search(client, services, query="bake a loaf of sourdough bread")
        assert found["runs"] == [], "below the cosine floor (history.search.MIN_SIMILARITY) nothing is related"
