"""bpftrace's compile check is reused for a program checked moments ago (validate, then run), and only then."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.validate.compile import CompileCache

from mcptrace_core.config import CheckSettings, load_settings
from mcptrace_core.runs.checks import CheckLimiter
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]

GOOD = 'BEGIN { printf("cached\\n"); exit(); }'
BAD = "BEGIN { @x = undefined_function(); }"


async def _check(cache: CompileCache, program: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    backend = BpftraceBackend(load_settings(Path("/nonexistent/mcptrace.toml")))
    command, flag = backend.command(), backend.executable().check_flags
    begin = time.perf_counter()
    result = await cache.check(command, flag, program, env or {}, False, backend.host_facts())
    return result, time.perf_counter() - begin


async def test_the_same_check_is_answered_from_the_cache() -> None:
    cache = CompileCache(CheckLimiter(CheckSettings()))
    first, first_s = await _check(cache, GOOD)
    again, again_s = await _check(cache, GOOD)
    assert first.exit_code == 0 and not first.errors
    assert again is first and again_s < first_s / 10  # no bpftrace process the second time


async def test_a_failed_check_is_kept_with_its_errors() -> None:
    cache = CompileCache(CheckLimiter(CheckSettings()))
    first, _ = await _check(cache, BAD)
    again, _ = await _check(cache, BAD)
    assert first.errors and again is first


async def test_other_limits_other_programs_and_old_results_are_checked_again() -> None:
    cache = CompileCache(CheckLimiter(CheckSettings()), entries=1, ttl_s=300)
    first, _ = await _check(cache, GOOD)
    assert (await _check(cache, GOOD, {"BPFTRACE_MAX_MAP_KEYS": "512"}))[0] is not first  # the run's limits count
    assert (await _check(cache, GOOD))[0] is not first  # one entry: the other limits pushed it out
    expired = CompileCache(CheckLimiter(CheckSettings()), ttl_s=0)
    first, _ = await _check(expired, GOOD)
    assert (await _check(expired, GOOD))[0] is not first
