"""The history records real bpftrace runs: at start, at end, across restarts, with fix links and retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mcptrace_core.config import Settings
from mcptrace_core.history.filters import RunFilter
from mcptrace_core.history.store import MAX_SUMMARY_CHARS
from mcptrace_core.runs.models import ValidationSummary
from mcptrace_core.runs.run import Run
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.history_support import history_settings

pytestmark = [pytest.mark.anyio, requires_bpftrace]

TICKS = 'interval:ms:100 { printf("tick\\n"); } interval:ms:450 { @done = count(); exit(); }'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return history_settings(tmp_path)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    created = Services.create(settings)
    yield created
    await created.aclose()


async def start(services: Services, program: str, timeout_s: float = 10.0, chain: tuple[str, int] | None = None) -> Run:
    spec = services.backend("bpftrace").run_spec(program, timeout_s)
    if chain is not None:
        spec.chain_id, spec.attempt = chain
    return await services.runs.start(spec)


async def finish(services: Services, program: str, **kwargs) -> Run:  # type: ignore[no-untyped-def]
    run = await start(services, program, **kwargs)
    await run.wait_done()
    return run


async def test_a_run_is_written_when_it_starts_and_completed_when_it_ends(services: Services) -> None:
    run = await start(services, TICKS)
    services.history.flush()
    record = services.history.load(run.id)
    assert record is not None and record.status == "running"
    assert record.program == TICKS and record.parameters["argv"][-1] == TICKS and record.parameters["timeout_s"] == 10
    assert record.owner_pid > 0 and record.host["kernel"]
    await run.wait_done()
    services.history.flush()
    record = services.history.load(run.id)
    assert record is not None
    assert record.status == "completed" and record.exit_code == 0
    assert record.output_head.count("tick") >= 3
    assert record.total_lines == run.output.total
    assert [trace_map.name for trace_map in record.maps] == ["@done"]
    assert record.duration_s == run.duration_s and record.ended_at and record.ended_at >= record.started_at


async def test_get_result_reads_runs_of_an_earlier_server_from_the_history(settings: Settings) -> None:
    from mcp import Client

    from mcptrace_core.server import build_server

    first = Services.create(settings)
    good = await finish(first, TICKS)
    bad = await finish(first, 'BEGIN { printf("x\\n") exit(); }')
    await first.aclose()

    second = Services.create(settings)  # a new server process would see exactly this
    try:
        async with Client(build_server(second), mode="legacy") as client:
            result = await client.call_tool("get_result", {"execution_id": good.id})
            assert not result.is_error, result.content
            data = result.structured_content
            assert data["status"] == "completed" and data["exit_code"] == 0
            assert data["lines"] == good.output.page(0, 200).lines
            assert data["maps"][0]["name"] == "@done"
            result = await client.call_tool("get_result", {"execution_id": bad.id})
            data = result.structured_content
            assert data["status"] == "failed" and data["errors"][0]["category"] == "syntax"
            assert data["error"] == bad.errors[0].message
            missing = await client.call_tool("get_result", {"execution_id": "0123456789ab"})
            assert missing.is_error and "no execution with id" in missing.content[0].text
    finally:
        await second.aclose()


async def test_long_output_is_kept_at_both_ends_and_pages_like_a_live_run(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path, max_output_lines=10))
    try:
        run = await finish(services, 'BEGIN { $i = 0; unroll(60) { printf("line %d\\n", $i); $i++; } exit(); }')
        services.history.flush()
        record = services.history.load(run.id)
    finally:
        await services.aclose()
    assert record is not None and record.total_lines == run.output.total == 61  # 'Attaching 1 probe...' + 60
    assert record.output_head == run.output.page(0, 5).lines
    assert record.output_tail == run.output.last(5)
    view = record.view()
    page = view.output.page(3, 10)
    assert page.lines == record.output_head[3:] and page.skipped == 0
    after_gap = view.output.page(page.offset + len(page.lines), 10)
    assert after_gap.skipped == 51 and after_gap.lines == record.output_tail


async def test_many_runs_ending_at_once_are_all_recorded(tmp_path: Path) -> None:
    count = 12
    services = Services.create(history_settings(tmp_path).model_copy(
        update={"runs": history_settings(tmp_path).runs.model_copy(update={"max_concurrent": count})}
    ))
    try:
        runs = [await start(services, f'interval:ms:1500 {{ printf("run {n}\\n"); exit(); }}') for n in range(count)]
        await asyncio.gather(*(run.wait_done() for run in runs))
        services.history.flush()
        records = {record.id: record for record in services.history.recent(RunFilter(), 100)}
    finally:
        await services.aclose()
    assert set(records) == {run.id for run in runs}
    for n, run in enumerate(runs):
        assert records[run.id].status == "completed"
        assert f"run {n}" in records[run.id].output_head


async def test_a_failed_attempt_links_to_the_attempt_of_its_chain_that_fixed_it(services: Services) -> None:
    first = await finish(services, 'BEGIN { printf("%d\\n", $nope); exit(); }', chain=("chain-1", 1))
    second = await finish(services, "tracepoint:syscalls:sys_enter_nonexistent { exit(); }", chain=("chain-1", 2))
    fixed = await finish(services, 'BEGIN { printf("%d\\n", 1); exit(); }', chain=("chain-1", 3))
    other = await finish(services, 'BEGIN { printf("%d\\n", $other); exit(); }', chain=("chain-2", 1))
    services.history.flush()
    load = services.history.load
    assert load(first.id).fixed_by == fixed.id  # type: ignore[union-attr]
    assert load(second.id).fixed_by == fixed.id  # type: ignore[union-attr]
    assert load(fixed.id).fixed_by is None  # type: ignore[union-attr]
    assert load(other.id).fixed_by is None  # type: ignore[union-attr]
    assert (load(first.id).chain_id, load(first.id).attempt) == ("chain-1", 1)  # type: ignore[union-attr]


async def test_outside_chains_only_a_similar_program_run_next_is_a_likely_fix(services: Services) -> None:
    broken = 'BEGIN { printf("started by %s\\n", comm) exit(); }'
    fixed_program = broken.replace("comm) exit", "comm); exit")
    failed = await finish(services, broken)
    unrelated = await finish(services, "interval:ms:50 { @x = count(); exit(); }")
    repaired = await finish(services, fixed_program)
    services.history.flush()
    assert failed.status.value == "failed" and repaired.status.value == "completed"
    record = services.history.load(failed.id)
    assert record is not None and record.likely_fixed_by == repaired.id and record.fixed_by is None
    assert services.history.load(unrelated.id).likely_fixed_by is None  # type: ignore[union-attr]

    again = await finish(services, broken)
    same_program = await finish(services, fixed_program)
    rerun_failed = await finish(services, broken)
    services.history.flush()
    assert services.history.load(again.id).likely_fixed_by == same_program.id  # type: ignore[union-attr]
    assert services.history.load(rerun_failed.id).likely_fixed_by is None  # type: ignore[union-attr]


async def test_validation_and_source_are_recorded_at_start_and_the_summary_later(services: Services) -> None:
    spec = replace(
        services.backend("bpftrace").run_spec(TICKS, 10.0), source="example:core/timers.tick",
        validation=ValidationSummary("confirm", ({"rule": "hot-probe-output", "severity": "high"},)),
    )
    run = await services.runs.start(spec)
    services.history.flush()
    record = services.history.load(run.id)
    assert record is not None and record.status == "running"
    assert (record.verdict, record.source) == ("confirm", "example:core/timers.tick")
    assert record.findings == [{"rule": "hot-probe-output", "severity": "high"}]

    await run.wait_done()
    services.history.annotate(run.id, summary="steady periodic ticks, nothing unusual")
    services.history.flush()
    record = services.history.load(run.id)
    assert record is not None and record.status == "completed" and record.verdict == "confirm"
    assert record.summary == "steady periodic ticks, nothing unusual"
    outcome = services.history.search("unusual periodic", RunFilter(), 5)
    assert [hit.id for hit in outcome.hits] == [run.id] and outcome.hits[0].summary == record.summary

    services.history.annotate(run.id, summary="\n".join(f"@map{n}: 12 keys, top app {n}" for n in range(200)))
    services.history.flush()
    summary = services.history.load(run.id).summary  # type: ignore[union-attr]
    assert summary is not None and len(summary) <= MAX_SUMMARY_CHARS and summary.endswith("…")
    assert summary.startswith("@map0: 12 keys") and "\n@map1: " in summary


async def test_retention_keeps_the_newest_runs_and_drops_old_ones(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))
    runs = [await finish(services, f'BEGIN {{ printf("{n}\\n"); exit(); }}') for n in range(5)]
    await services.aclose()
    reopened = Services.create(history_settings(tmp_path, max_runs=3))
    try:
        kept = [record.id for record in reopened.history.recent(RunFilter(), 10)]
        assert kept == [run.id for run in reversed(runs[2:])]
        await asyncio.sleep(1.0)
        assert reopened.history.prune_now(max_runs=0, max_age_days=0.5 / 86400) == 3  # older than 0.5 s
        assert reopened.history.count() == 0
    finally:
        await reopened.aclose()


async def test_a_failing_listener_never_breaks_a_run(services: Services) -> None:
    class Broken:
        def run_started(self, run: Run) -> None:
            raise RuntimeError("observer bug on start")

        def run_ended(self, run: Run) -> None:
            raise RuntimeError("observer bug on end")

    services.runs.add_listener(Broken())
    run = await finish(services, TICKS)
    services.history.flush()
    assert run.status.value == "completed"
    assert services.history.load(run.id).status == "completed"  # type: ignore[union-attr]


async def test_two_servers_recording_into_one_file_lose_nothing(tmp_path: Path) -> None:
    first, second = Services.create(history_settings(tmp_path)), Services.create(history_settings(tmp_path))
    try:  # two stores: two writer threads and connections contending for the same SQLite file
        runs = [
            await start(services, f'BEGIN {{ printf("{name} {n}\\n"); exit(); }}')
            for n in range(3)
            for name, services in (("first", first), ("second", second))
        ]
        await asyncio.gather(*(run.wait_done() for run in runs))
        first.history.flush()
        second.history.flush()
        records = {record.id: record for record in first.history.recent(RunFilter(), 100)}
    finally:
        await first.aclose()
        await second.aclose()
    assert set(records) == {run.id for run in runs}
    assert all(record.status == "completed" and record.output_head[-1] in run.output.page(0, 5).lines
               for run in runs for record in [records[run.id]])
