"""Real bpftrace runs through the MCP tools: output, maps, stop, timeout, limits, caps, attach errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.server import build_server
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]

TICKER = 'interval:ms:50 { @ticks = count(); printf("tick %d\\n", elapsed / 1000000); }'


async def _call(client, tool: str, **arguments):  # type: ignore[no-untyped-def]
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def _wait_until(client, execution_id: str, predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        data = await _call(client, "get_result", execution_id=execution_id, wait_s=0.5)
        if predicate(data) or time.monotonic() > deadline:
            return data


async def test_a_begin_program_prints_and_exits(client) -> None:  # type: ignore[no-untyped-def]
    started = await _call(client, "exec_program", program='BEGIN { printf("one\\ntwo\\n"); @done = 1; exit(); }')
    assert started["status"] == "running" and started["execution_id"]
    data = await _wait_until(client, started["execution_id"], lambda d: d["status"] != "running")
    assert data["status"] == "completed" and data["exit_code"] == 0
    assert data["lines"][:3] == ["Attaching 1 probe...", "one", "two"]
    assert data["maps"] == [{"name": "@done", "kind": "value", "entries": [{"key": None, "value": 1, "buckets": None, "stats": None}]}]
    assert data["errors"] == [] and data["stderr"] == []  # the RLIMIT_MEMLOCK noise is filtered


async def test_a_tracepoint_count_with_an_interval_exit(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program = (
        "tracepoint:syscalls:sys_enter_openat /comm == \"python3\" || comm == \"python\"/ { @opens[comm] = count(); }\n"
        "interval:ms:700 { exit(); }"
    )
    started = await _call(client, "exec_program", program=program)
    for index in range(50):
        (tmp_path / f"f{index}").write_text("x")
        (tmp_path / f"f{index}").read_text()
        await anyio.sleep(0.01)
    data = await _wait_until(client, started["execution_id"], lambda d: d["status"] != "running")
    assert data["status"] == "completed", data
    (opens,) = [m for m in data["maps"] if m["name"] == "@opens"]
    assert sum(entry["value"] for entry in opens["entries"]) >= 50
    assert any(line.startswith("@opens[python") for line in data["lines"])


async def test_stop_execution_returns_the_final_maps(client) -> None:  # type: ignore[no-untyped-def]
    program = "interval:ms:20 { @h = hist(elapsed / 1000); @n = count(); }"
    started = await _call(client, "exec_program", program=program, timeout_s=60)
    await anyio.sleep(1.0)
    stopped = (await _call(client, "stop_execution", execution_id=started["execution_id"]))["execution"]
    assert stopped["status"] == "stopped" and stopped["exit_code"] == 0
    maps = {m["name"]: m for m in stopped["maps"]}
    assert maps["@n"]["entries"][0]["value"] >= 20
    buckets = maps["@h"]["entries"][0]["buckets"]
    assert sum(b["count"] for b in buckets) == maps["@n"]["entries"][0]["value"]
    assert stopped["duration_s"] < 10
    again = (await _call(client, "stop_execution", execution_id=started["execution_id"]))["execution"]
    assert again["status"] == "stopped"  # stopping an ended run just returns it


async def test_a_timeout_stops_the_run_and_keeps_its_maps(client) -> None:  # type: ignore[no-untyped-def]
    started = await _call(client, "exec_program", program=TICKER, timeout_s=1)
    data = await _wait_until(client, started["execution_id"], lambda d: d["status"] != "running")
    assert data["status"] == "timed_out" and "timeout" in data["stop_note"]
    assert 0.9 < data["duration_s"] < 5
    assert data["maps"][0]["name"] == "@ticks" and data["maps"][0]["entries"][0]["value"] >= 5


async def test_the_timeout_may_not_exceed_the_configured_maximum(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("exec_program", {"program": TICKER, "timeout_s": 601})
    assert result.is_error and "max_timeout_s" in result.content[0].text


async def test_the_concurrency_limit(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {"runs": {"max_concurrent": 2}})
    services = Services.create(settings)
    from mcp import Client

    try:
        async with Client(build_server(services), mode="legacy") as client:
            first = await _call(client, "exec_program", program=TICKER, timeout_s=60)
            await _call(client, "exec_program", program=TICKER, timeout_s=60)
            refused = await client.call_tool("exec_program", {"program": TICKER})
            assert refused.is_error
            text = refused.content[0].text
            assert "runs.max_concurrent" in text and first["execution_id"] in text
            await _call(client, "stop_execution", execution_id=first["execution_id"])
            third = await _call(client, "exec_program", program=TICKER, timeout_s=60)
            assert third["status"] == "running"
    finally:
        await services.aclose()
    assert not services.runs.active


async def test_output_beyond_the_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {"runs": {"max_output_lines": 200}})
    services = Services.create(settings)
    from mcp import Client

    program = 'BEGIN { $i = 0; while ($i < 3000) { printf("row %d\\n", $i); $i++; } exit(); }'
    try:
        async with Client(build_server(services), mode="legacy") as client:
            started = await _call(client, "exec_program", program=program, wait=True)
            head = await _call(client, "get_result", execution_id=started["execution_id"], offset=0, limit=5000)
            tail = await _call(client, "get_result", execution_id=started["execution_id"], offset=head["next_offset"])
    finally:
        await services.aclose()
    assert head["total_lines"] == 3001 and head["dropped_lines"] == 3001 - 200
    assert head["lines"][:2] == ["Attaching 1 probe...", "row 0"] and len(head["lines"]) == 100
    assert head["has_more"] and head["next_offset"] == 100
    assert tail["skipped_lines"] == 2801 and tail["offset"] == 2901
    assert tail["lines"][-1] == "row 2999" and len(tail["lines"]) == 100 and not tail["has_more"]


async def test_a_kprobe_is_a_structured_error_here(client, services) -> None:  # type: ignore[no-untyped-def]
    info = await _call(client, "bpf_info")
    if info["probe_types"]["kprobe"]["usable"]:
        pytest.skip("this kernel has kprobes; the error path under test cannot happen here")
    program = "kprobe:vfs_read { @reads = count(); }"
    refused = await client.call_tool("exec_program", {"program": program, "wait": True})
    assert refused.is_error
    text = refused.content[0].text
    assert "[unsupported_feature] line 1:1" in text and "tracepoint:syscalls:sys_enter_read" in text
    # Validation catches it first; the run path itself also explains the attach failure it would meet.
    backend = services.backend("bpftrace")
    run = await services.runs.start(backend.run_spec(program, 10))
    await run.wait_done(20)
    assert run.status.value == "failed" and run.exit_code not in (0, None)
    (error,) = run.errors
    assert error.category == "unsupported_feature"
    assert "kprobe:vfs_read" in error.message and "no kprobes" in (error.hint or "")


async def test_get_result_long_polls_for_new_lines(client) -> None:  # type: ignore[no-untyped-def]
    program = 'interval:ms:800 { printf("late line\\n"); exit(); }'
    started = await _call(client, "exec_program", program=program)
    attached = await _wait_until(client, started["execution_id"], lambda d: d["total_lines"] >= 1)
    begin = time.monotonic()
    data = await _call(client, "get_result", execution_id=started["execution_id"], offset=attached["total_lines"], wait_s=10)
    assert time.monotonic() - begin < 5
    assert data["lines"] == ["late line"]


async def test_get_result_waits_for_a_line_from_the_first_moment_of_a_run(client) -> None:  # type: ignore[no-untyped-def]
    # Right after the start, stderr and events that are no line change the run first; a long poll must
    # not wake on those and return empty-handed while the run goes on.
    program = 'interval:ms:700 { printf("first line\\n"); exit(); }'
    for _ in range(3):
        started = await _call(client, "exec_program", program=program)
        data = await _call(client, "get_result", execution_id=started["execution_id"], offset=0, wait_s=20)
        assert data["lines"], data
        rest = await _call(client, "get_result", execution_id=started["execution_id"], offset=data["next_offset"],
                           wait_s=20)
        assert rest["lines"] or rest["status"] != "running", rest
        await _wait_until(client, started["execution_id"], lambda d: d["status"] != "running")


async def test_cancelling_a_waiting_call_stops_the_run(client, services) -> None:  # type: ignore[no-untyped-def]
    async with anyio.create_task_group() as group:
        group.start_soon(client.call_tool, "exec_program", {"program": TICKER, "timeout_s": 60, "wait": True})
        deadline = time.monotonic() + 60  # validation takes its time on a loaded machine: wait for the run
        while not services.runs.list() and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        await anyio.sleep(0.5)
        group.cancel_scope.cancel()
    deadline = time.monotonic() + 10
    while services.runs.active and time.monotonic() < deadline:
        await anyio.sleep(0.1)
    (run,) = services.runs.list()
    assert run.status.value == "stopped" and "cancelled" in (run.stop_note or "")


async def test_list_executions_and_unknown_ids(client) -> None:  # type: ignore[no-untyped-def]
    started = await _call(client, "exec_program", program='BEGIN { exit(); }', wait=True)
    listed = await _call(client, "list_executions")
    assert [e["execution_id"] for e in listed["executions"]] == [started["execution_id"]]
    assert listed["executions"][0]["label"] == "BEGIN { exit(); }"
    only_running = await _call(client, "list_executions", status="running")
    assert only_running["executions"] == []
    missing = await client.call_tool("get_result", {"execution_id": "nope"})
    assert missing.is_error and "no execution with id 'nope'" in missing.content[0].text


async def test_bpf_info_measures_what_works_here(client) -> None:  # type: ignore[no-untyped-def]
    info = await _call(client, "bpf_info")
    assert info["bpftrace_version"].startswith("0.") and os.path.isabs(info["bpftrace_path"])
    assert {"tracepoint", "uprobe", "profile", "interval"} <= set(info["usable_probe_types"])
    assert info["root"] is True and info["tracefs"]
    kprobe = info["probe_types"]["kprobe"]
    failing = [check for check in info["checks"] if not check["ok"]]
    assert all(check["fix"] for check in failing)
    if not kprobe["usable"]:
        assert "kprobe_events" in kprobe["detail"]


async def test_list_probes_filters_pages_and_shows_arguments(client) -> None:  # type: ignore[no-untyped-def]
    first = await _call(client, "list_probes", filter="t:syscalls:sys_enter_*", limit=10)
    assert first["filter"] == "tracepoint:syscalls:sys_enter_*"
    assert first["total"] > 100 and len(first["probes"]) == 10 and first["has_more"]
    second = await _call(client, "list_probes", filter="tracepoint:syscalls:sys_enter_*", offset=10, limit=10)
    assert not {p["name"] for p in first["probes"]} & {p["name"] for p in second["probes"]}
    with_args = await _call(client, "list_probes", filter="tracepoint:sched:sched_switch", with_args=True)
    (probe,) = with_args["probes"]
    assert probe["usable_here"] and any("prev_comm" in arg for arg in probe["args"])
    bare = await _call(client, "list_probes", filter="sched_process_exec")
    assert [p["name"] for p in bare["probes"]] == ["tracepoint:sched:sched_process_exec"]
    uprobes = await _call(client, "list_probes", filter="uprobe:/bin/bash:readline")
    assert [p["name"] for p in uprobes["probes"]] == ["uprobe:/bin/bash:readline"]
    nothing = await _call(client, "list_probes", filter="tracepoint:nosuch:*")
    assert nothing["total"] == 0 and nothing["probes"] == []
