"""A BCC run is a run like any other: get_result while it goes, stop_execution, analyze_output (with the
same numbers get_result shows), list_executions, and the history of a later server."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.history_support import history_settings
from tests.test_bcc import _call, requires_bcc
from tests.validation_support import mcp_client

pytestmark = [pytest.mark.anyio, requires_bcc]


async def _all_lines(client: Any, execution_id: str) -> list[str]:
    lines: list[str] = []
    offset = 0
    while True:
        page = await _call(client, "get_result", execution_id=execution_id, offset=offset, limit=5000)
        lines += page["lines"]
        offset = page["next_offset"]
        if not page["has_more"]:
            return lines


def _bucket_counts(trace_map: dict[str, Any]) -> list[list[int]]:
    return [[bucket["count"] for bucket in entry["buckets"]] for entry in trace_map["entries"]]


async def test_runqlat_shows_histograms_while_it_runs_and_analyze_output_gives_the_same_numbers(
    client: Any,
) -> None:
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])  # contention, so tasks wait for a CPU
    try:
        started = await _call(client, "exec_bcc_tool", tool_name="runqlat", arguments={"interval": 1}, timeout_s=30)
        execution_id = started["execution_id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # a printout shows once the next one begins
            running = await _call(client, "get_result", execution_id=execution_id, wait_s=1)
            assert running["status"] == "running", running
            if running["maps"]:
                break
        assert running["maps"] and running["maps"][0]["name"] == "usecs"
        stopped = (await _call(client, "stop_execution", execution_id=execution_id))["execution"]
    finally:
        busy.kill()
    assert stopped["status"] == "stopped"
    (usecs,) = stopped["maps"]
    (counts,) = _bucket_counts(usecs)
    analysis = await _call(client, "analyze_output", execution_id=execution_id)
    assert analysis["kind"] == "bcc"
    (dist,) = analysis["stats"]
    assert dist["subject"] == "usecs" and dist["unit"] == "us" and dist["count"] == sum(counts) > 0
    assert [_bucket_counts(m) for m in analysis["maps"]] == [[counts]]
    assert len(analysis["series"]) >= 1  # one printout a second: a time series
    text = "\n".join(await _all_lines(client, execution_id))
    from_text = await _call(client, "analyze_output", output=text)
    assert from_text["stats"] == analysis["stats"] and from_text["maps"] == analysis["maps"]


async def test_syscount_rows_in_get_result_are_the_keys_analyze_output_ranks(client: Any) -> None:
    run = await _call(client, "exec_bcc_tool", tool_name="syscount", arguments={"top": 5}, timeout_s=1, wait=True)
    rows = {row["values"]["SYSCALL"]: row["values"]["COUNT"] for table in run["tables"] for row in table["rows"]}
    analysis = await _call(client, "analyze_output", execution_id=run["execution_id"], focus_areas=["top", "events"])
    (counts,) = [top for top in analysis["top"] if top["subject"] == "COUNT"]
    assert {share["key"]: share["value"] for share in counts["top"]} == rows and 1 <= len(rows) <= 5
    (table,) = analysis["tables"]
    assert table["columns"] == ["SYSCALL", "COUNT"] and table["rows"] == len(rows)


async def test_bcc_runs_are_listed_and_kept_in_the_history_for_the_next_server(tmp_path: Path) -> None:
    settings = history_settings(tmp_path)
    async with mcp_client(settings) as (client, _):
        run = await _call(client, "exec_bcc_tool", tool_name="runqlat", timeout_s=1, wait=True)
        listed = await _call(client, "list_executions")
    (summary,) = listed["executions"]
    assert summary["backend"] == "bcc" and summary["label"].startswith("runqlat") and summary["status"] == "completed"
    async with mcp_client(settings) as (later, _):  # another server process, reading the same history
        found = await _call(later, "search_history", query="runqlat run queue latency")
        past = await _call(later, "get_result", execution_id=run["execution_id"], limit=5000)
    assert run["execution_id"] in [hit["id"] for hit in found["runs"]]
    assert past["backend"] == "bcc" and past["status"] == "completed" and past["lines"] == run["lines"]
    assert past["maps"] == run["maps"] and _bucket_counts(past["maps"][0])
