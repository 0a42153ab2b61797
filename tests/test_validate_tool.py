"""validate_program over MCP: each layer, structured errors whose suggestions exist on this host."""

from __future__ import annotations

from typing import Any

import pytest

from mcptrace_bpftrace.host import kprobe_events_present
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]


async def validate(client: Any, program: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("validate_program", {"program": program, **arguments})
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[no-any-return]


async def test_a_good_program_passes_every_layer_with_counts_and_cost(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "tracepoint:syscalls:sys_enter_open* { @[comm] = count(); } END { print(@); }")
    assert report["valid"] and report["verdict"] == "allow" and report["policy"] == "standard"
    assert [(layer["layer"], layer["state"]) for layer in report["layers"]] == [
        ("parse", "passed"), ("compile", "passed"), ("probes", "passed"), ("safety", "passed")
    ]
    counts = {probe["spec"]: probe["count"] for probe in report["probes"]}
    assert counts["tracepoint:syscalls:sys_enter_open*"] >= 2 and counts["END"] == 1
    cost = report["estimated_cost"]
    assert cost["attached_probes"] == sum(counts.values()) and cost["label"] in ("low", "medium")
    assert cost["expected_detach_s"] > 0


async def test_a_syntax_error_is_located(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, 'BEGIN {\n  printf("x\\n"\n}')
    [error] = report["errors"]
    assert error["category"] == "syntax" and (error["line"], error["col"]) == (3, 1)
    assert report["layers"][0] == {"layer": "parse", "state": "failed", "detail": report["layers"][0]["detail"]}


async def test_a_misspelt_tracepoint_gets_the_real_names(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "tracepoint:syscalls:sys_enter_opennat { }")
    [error] = report["errors"]
    assert error["category"] == "probe_not_found"
    assert error["suggestions"][0] == "tracepoint:syscalls:sys_enter_openat"


async def test_a_wrong_field_gets_the_tracepoints_real_fields(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "tracepoint:syscalls:sys_enter_openat { @[str(args->fname)] = count(); }")
    error = report["errors"][0]
    assert error["category"] == "semantic" and error["suggestions"][0] == "args->filename"
    assert "filename" in error["hint"] and "flags" in error["hint"]


@pytest.mark.skipif(kprobe_events_present(), reason="this kernel has kprobes, so no replacement is needed")
async def test_a_kprobe_without_kprobes_gets_covering_tracepoints(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "kprobe:vfs_read { @[comm] = count(); } kretprobe:tcp_set_state { }")
    first, second = report["errors"]
    assert first["category"] == "unsupported_feature"
    assert first["suggestions"] == ["tracepoint:syscalls:sys_enter_read", "tracepoint:syscalls:sys_exit_read"]
    assert second["suggestions"] == ["tracepoint:sock:inet_sock_set_state"]
    assert [probe["usable"] for probe in report["probes"]] == [False, False]


async def test_a_uprobe_on_a_missing_function_is_caught_with_near_names(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "uprobe:/bin/bash:readlin { @ = count(); }")
    [error] = report["errors"]
    assert error["category"] == "probe_not_found" and "silently" in error["message"]
    assert "uprobe:/bin/bash:readline" in error["suggestions"]


@pytest.mark.parametrize(
    ("program", "category", "suggestion"),
    [
        ("tracepont:sched:sched_switch { }", "probe_not_found", "tracepoint:sched:sched_switch"),
        ("BEGIN { prinft(\"x\\n\"); }", "semantic", "printf()"),
        ("BEGIN { @ = piid; }", "semantic", "pid"),
        ("BEGIN { $count = 1; @ = $cuont; }", "semantic", "$count"),
    ],
)
async def test_near_names_for_other_mistakes(client, program: str, category: str,  # type: ignore[no-untyped-def]
                                             suggestion: str) -> None:
    report = await validate(client, program)
    error = report["errors"][0]
    assert error["category"] == category and suggestion in error["suggestions"], error


async def test_an_unknown_safety_level_names_the_known_ones(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("validate_program", {"program": "BEGIN { exit(); }", "safety_level": "lax"})
    assert result.is_error
    assert "permissive" in result.content[0].text and "strict" in result.content[0].text


async def test_a_stricter_level_applies_both_policies(client) -> None:  # type: ignore[no-untyped-def]
    report = await validate(client, "profile:hz:499 { @[kstack] = count(); }", safety_level="strict")
    assert report["policy"] == "standard+strict" and report["verdict"] == "block"
    assert report["findings"][0]["rule"] == "sampling-frequency"
