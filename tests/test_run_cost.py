"""What a run costs over bare bpftrace: map sizes (the kernel preallocates them) and one compile, not two.

Real bpftrace runs through a real MCP client session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.services import Services
from mcptrace_bpftrace.limits import limits_env
from mcptrace_bpftrace.sizing import run_limits
from tests.conftest import requires_bpftrace
from tests.history_support import session

pytestmark = [pytest.mark.anyio]

THREE_KEYS = "BEGIN { @c[1] = count(); @c[2] = count(); @c[3] = count(); exit(); }"
TYPE_MISMATCH = 'BEGIN { $x = 1; $x = "text"; exit(); }'
"""Parses (mcptrace's parser finds nothing); only bpftrace's semantic analysis refuses it."""


def _settings(tmp_path: Path, **bpftrace: Any):  # type: ignore[no-untyped-def]
    return load_settings(tmp_path / "absent.toml", {"bpftrace": bpftrace, "history": {"enabled": False}})


def _map_keys_env(env: dict[str, str]) -> list[str]:
    """The keys-per-map value a run was given, whatever the variable is called for this bpftrace."""
    return [value for name, value in env.items() if "MAP_KEYS" in name]


def test_a_run_gets_the_configured_keys_and_never_more_than_the_policy() -> None:
    standard = {"BPFTRACE_MAX_PROBES": 1000, "BPFTRACE_MAP_KEYS_MAX": 65_536}
    assert run_limits(standard, 4096) == {"BPFTRACE_MAX_PROBES": 1000, "BPFTRACE_MAP_KEYS_MAX": 4096}
    assert run_limits({"BPFTRACE_MAP_KEYS_MAX": 4096}, 100_000) == {"BPFTRACE_MAP_KEYS_MAX": 4096}
    assert run_limits({}, 8192) == {"BPFTRACE_MAP_KEYS_MAX": 8192}
    assert _map_keys_env(limits_env(run_limits(standard, 4096))) == ["4096"]


@requires_bpftrace
async def test_the_standard_policy_runs_with_keys_bpftrace_does_not_pay_for(tmp_path: Path) -> None:
    services = Services.create(_settings(tmp_path))
    async for client in session(services):
        result = await client.call_tool("exec_program", {"program": THREE_KEYS, "wait": True})
        assert not result.is_error, result.content[0].text
        run = services.runs.get(result.structured_content["execution_id"])
        assert _map_keys_env(run.spec.env) == ["4096"]
        (counts,) = result.structured_content["maps"]
        assert len(counts["entries"]) == 3


@requires_bpftrace
async def test_the_keys_setting_really_limits_the_map_and_the_policy_caps_it(tmp_path: Path) -> None:
    services = Services.create(_settings(tmp_path, map_keys=2))
    async for client in session(services):
        result = await client.call_tool("exec_program", {"program": THREE_KEYS, "wait": True})
        assert not result.is_error, result.content[0].text
        (counts,) = result.structured_content["maps"]
        assert len(counts["entries"]) == 2  # the third key did not fit: the limit holds in the kernel
    services = Services.create(_settings(tmp_path, map_keys=100_000))
    async for client in session(services):
        result = await client.call_tool("exec_program", {"program": THREE_KEYS, "wait": True, "safety_level": "strict"})
        assert not result.is_error, result.content[0].text
        run = services.runs.get(result.structured_content["execution_id"])
        assert _map_keys_env(run.spec.env) == ["4096"]  # strict's ceiling, not the setting


@requires_bpftrace
async def test_a_new_program_is_compiled_once_by_its_run(tmp_path: Path) -> None:
    services = Services.create(_settings(tmp_path))
    backend = services.backend("bpftrace")
    program = 'BEGIN { @seen[1] = count(); printf("compiled once\\n"); exit(); }'
    async for client in session(services):
        result = await client.call_tool("exec_program", {"program": program})
        assert not result.is_error, result.content[0].text
        data = result.structured_content
        assert data["attached_probes"] == 1, "exec_program returns once bpftrace is past compiling"
        (compile_layer,) = [layer for layer in data["validation"]["layers"] if layer["layer"] == "compile"]
        assert compile_layer == {"layer": "compile", "state": "passed",
                                 "detail": "bpftrace compiled the program as the run started"}
        # What the run learnt answers the next validation without another bpftrace -d.
        assert len(backend.compile_cache) == 1
        validated = await client.call_tool("validate_program", {"program": program})
        assert validated.structured_content["valid"]
        assert {"layer": "compile", "state": "passed", "detail": ""} in validated.structured_content["layers"]
        assert len(backend.compile_cache) == 1


@requires_bpftrace
async def test_compile_errors_of_the_run_are_validation_errors(tmp_path: Path) -> None:
    services = Services.create(_settings(tmp_path))
    async for client in session(services):
        for wait in (False, True):
            result = await client.call_tool("exec_program", {"program": TYPE_MISMATCH, "wait": wait})
            assert result.is_error
            text = result.content[0].text
            assert text.startswith("refused: the program does not pass validation"), text
            assert "Type mismatch for $x" in text and "semantic" in text
        validated = await client.call_tool("validate_program", {"program": TYPE_MISMATCH})
        assert not validated.structured_content["valid"]
        assert "Type mismatch" in validated.structured_content["errors"][0]["message"]
