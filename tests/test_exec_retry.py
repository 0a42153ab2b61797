"""exec_with_retry over MCP: a chain of fixes, no blind reruns, backoff only for a busy host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import requires_bpftrace
from tests.validation_support import mcp_client, settings_with

pytestmark = [pytest.mark.anyio, requires_bpftrace]

TYPO = "tracepoint:syscalls:sys_enter_opennat { @[comm] = count(); } interval:ms:200 { exit(); }"
FIXED = "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); } interval:ms:200 { exit(); }"
VERIFIER = "BEGIN { $i = 0; while ($i >= 0) { @ = 1; } exit(); }"


async def attempt(client: Any, program: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("exec_with_retry", {"program": program, **arguments})
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[no-any-return]


async def test_a_chain_of_fixes_ends_in_a_run(tmp_path: Path) -> None:
    async with mcp_client(settings_with(tmp_path)) as (client, services):
        first = await attempt(client, TYPO)
        chain = first["chain_id"]
        assert (first["outcome"], first["attempt"], first["execution_id"]) == ("invalid", 1, None)
        assert first["errors"][0]["suggestions"][0] == "tracepoint:syscalls:sys_enter_openat"
        assert chain in first["next_step"]

        again = await attempt(client, TYPO, chain_id=chain)
        assert (again["outcome"], again["attempt"]) == ("repeated", 2)
        assert again["errors"] == first["errors"]

        fixed = await attempt(client, FIXED, chain_id=chain)
        assert (fixed["outcome"], fixed["attempt"], fixed["chain_id"]) == ("succeeded", 3, chain)
        assert fixed["execution"]["status"] == "completed" and fixed["errors"] == []
        run = services.runs.get(fixed["execution_id"])
        assert (run.spec.chain_id, run.spec.attempt) == (chain, 3)

        other = await attempt(client, FIXED)
        assert other["chain_id"] != chain and other["attempt"] == 1


async def test_a_verifier_rejection_comes_back_to_be_fixed_and_is_not_retried(tmp_path: Path) -> None:
    async with mcp_client(settings_with(tmp_path)) as (client, services):
        failed = await attempt(client, VERIFIER, max_retries=3)
        assert (failed["outcome"], failed["retries"]) == ("failed", 0)
        assert failed["errors"][0]["category"] == "verifier" and failed["errors"][0]["hint"]
        assert len(services.runs.list()) == 1
        repeated = await attempt(client, VERIFIER, chain_id=failed["chain_id"])
        assert repeated["outcome"] == "repeated" and len(services.runs.list()) == 1


async def test_a_busy_host_is_retried_with_backoff(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, runs={"max_concurrent": 1})
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with mcp_client(settings) as (client, _):
        holder = await client.call_tool("exec_program", {"program": "interval:ms:1200 { exit(); }"})
        assert not holder.is_error, holder.content
        result = await client.call_tool(
            "exec_with_retry", {"program": "BEGIN { printf(\"through\\n\"); exit(); }", "max_retries": 5},
            progress_callback=on_progress,
        )
    data = result.structured_content
    assert data["outcome"] == "succeeded" and data["retries"] >= 1
    assert "through" in data["execution"]["lines"]
    assert any("runs are active" in message and "retry 1 of 5" in message for message in progress)


async def test_a_host_that_stays_busy_is_reported_as_busy(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, runs={"max_concurrent": 1})
    async with mcp_client(settings) as (client, services):
        await client.call_tool("exec_program", {"program": "interval:s:5 { exit(); }"})
        busy = await attempt(client, "BEGIN { exit(); }", max_retries=0)
        assert busy["outcome"] == "busy" and busy["errors"][0]["transient"]
        assert len(services.runs.list()) == 1


async def test_a_refused_program_comes_back_with_its_findings(tmp_path: Path) -> None:
    async with mcp_client(settings_with(tmp_path)) as (client, services):
        refused = await attempt(client, 'BEGIN { cat("/etc/shadow"); exit(); }')
        assert refused["outcome"] == "refused" and services.runs.list() == []
    assert refused["findings"][0]["rule"] == "sensitive-file-read" and refused["findings"][0]["fix"]
