"""What the history learns from the tools around a run, over a real MCP session with every plugin installed:
refused attempts (invalid, blocked, not confirmed) and the attempt that fixed them, the verdict and findings
of every run, the example or template a program came from, and the analysis summary of its output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.history_support import history_settings, session

pytestmark = [pytest.mark.anyio, requires_bpftrace]

INVALID = "tracepoint:sched:sched_switch { @[args->prev_comm] = count() exit(); }"
BLOCKED = 'tracepoint:sched:sched_switch { @[args->prev_comm] = count(); cat("/etc/shadow"); }'
FIXED = "tracepoint:sched:sched_switch { @[args->prev_comm] = count(); }"
NEEDS_CONFIRMATION = 'tracepoint:raw_syscalls:sys_enter { printf("%d\\n", pid); }'
EXAMPLE = "syscalls.count-by-process"
TEMPLATE = "context_switches"


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return dict(result.structured_content)


async def recent(client: Any, services: Services, **filters: Any) -> list[dict[str, Any]]:
    services.history.flush()
    return list((await call(client, "search_history", query="", limit=20, **filters))["runs"])


async def test_a_chain_records_its_refused_attempts_and_links_them_to_the_fix(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))
    async for client in session(services):
        first = await call(client, "exec_with_retry", program=INVALID, timeout_s=1)
        assert first["outcome"] == "invalid" and first["execution_id"] is None
        chain = first["chain_id"]
        second = await call(client, "exec_with_retry", program=BLOCKED, timeout_s=1, chain_id=chain)
        assert second["outcome"] == "refused"
        third = await call(client, "exec_with_retry", program=FIXED, timeout_s=1, chain_id=chain)
        assert third["outcome"] == "succeeded" and third["attempt"] == 3

        refused = {hit["attempt"]: hit for hit in await recent(client, services, status="refused")}
        assert set(refused) == {1, 2}
        invalid, blocked = refused[1], refused[2]
        assert (invalid["chain_id"], invalid["program"], invalid["error_category"]) == (chain, INVALID, "syntax")
        assert (blocked["chain_id"], blocked["program"], blocked["error_category"]) == (chain, BLOCKED, "blocked")
        assert blocked["verdict"] == "block" and "sensitive-file-read" in blocked["error"]
        for hit in (invalid, blocked):
            assert hit["fixed_by"] == third["execution_id"] and hit["fix_program"] == FIXED
            assert hit["status"] == "refused" and hit["exit_code"] is None
        succeeded = await recent(client, services, status="timed_out")
        assert [(hit["id"], hit["chain_id"], hit["attempt"], hit["verdict"]) for hit in succeeded] == [
            (third["execution_id"], chain, 3, "allow")
        ]
        record = services.history.load(blocked["id"])
        assert record is not None and record.findings and record.findings[0]["rule"] == "sensitive-file-read"
        assert record.findings[0]["fix"] and record.parameters["tool"] == "exec_with_retry"

        repeated = await call(client, "exec_with_retry", program=INVALID, chain_id=chain)
        assert repeated["outcome"] == "repeated"  # answered from the chain: nothing validated, nothing recorded
        assert len(await recent(client, services, status="refused")) == 2


async def test_a_program_the_user_did_not_confirm_is_recorded_as_refused(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))
    async for client in session(services):
        result = await client.call_tool("exec_program", {"program": NEEDS_CONFIRMATION, "timeout_s": 1})
        assert result.is_error and "did not get it" in result.content[0].text  # this client cannot be asked
        (hit,) = await recent(client, services)
        assert (hit["status"], hit["error_category"], hit["verdict"]) == ("refused", "not_confirmed", "confirm")
        assert "hot-probe-output" in hit["error"] and hit["chain_id"] is None
        found = await call(client, "search_history", query="raw_syscalls pid", include_failed=False)
        assert found["runs"] == []


async def test_the_source_of_an_example_or_a_template_program_is_recognised(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))
    async for client in session(services):
        example = (await call(client, "search_examples", query=EXAMPLE, limit=1))["results"][0]
        assert example["id"] == EXAMPLE
        reflowed = "\n\n".join("    " + line.strip() + "  " for line in example["program"].splitlines())
        from_example = await call(client, "exec_program", program=reflowed, timeout_s=1, wait=True)
        edited = example["program"].replace("count()", "sum(1)")
        assert edited != example["program"]
        own = await call(client, "exec_program", program=edited, timeout_s=1, wait=True)
        generated = await call(client, "generate_from_template", template_name=TEMPLATE, parameters={})
        from_template = await call(client, "exec_program", program=generated["program"], timeout_s=1, wait=True)

        services.history.flush()
        sources = {
            run_id: services.history.load(run_id).source  # type: ignore[union-attr]
            for run_id in (from_example["execution_id"], own["execution_id"], from_template["execution_id"])
        }
        assert sources == {
            from_example["execution_id"]: f"example:{example['pack']}/{EXAMPLE}",
            own["execution_id"]: None,
            from_template["execution_id"]: f"template:{TEMPLATE}",
        }
        hits = await recent(client, services)
        assert {hit["id"]: hit["source"] for hit in hits} == sources


async def test_the_analysis_summary_of_a_live_or_past_run_is_kept_and_searchable(tmp_path: Path) -> None:
    services = Services.create(history_settings(tmp_path))
    async for client in session(services):
        run = await call(client, "exec_program", program=FIXED, timeout_s=1, wait=True)
        analysis = await call(client, "analyze_output", execution_id=run["execution_id"], focus_areas=["top"])
        assert analysis["summary"].startswith("@: ")
        (hit,) = await recent(client, services)
        assert hit["id"] == run["execution_id"] and hit["summary"] == analysis["summary"]
        text = (await client.call_tool("search_history", {"query": "switches"})).content[0].text
        assert f"summary: {analysis['summary'].splitlines()[0]}" in text

    later = Services.create(history_settings(tmp_path))  # a new server process: the run is in the history only
    async for client in session(later):
        analysis = await call(client, "analyze_output", execution_id=run["execution_id"])
        assert analysis["source"].startswith(f"execution {run['execution_id']} (timed_out")
        (hit,) = await recent(client, later)
        assert hit["summary"] == analysis["summary"] and json.dumps(hit["summary"])
