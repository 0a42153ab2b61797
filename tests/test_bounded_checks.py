"""validate_program stays cheap whatever it is given: compile checks are few at a time, limited in memory
and time, and a program mcptrace cannot parse never reaches bpftrace."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from mcptrace_core.config import Settings, load_settings
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]

CHECK_TIMEOUT_S = 4.0
MEMORY_MB = 512


def slow_to_check(index: int) -> str:
    """A real program bpftrace needs many seconds to check (one map per statement; 5,500 of them: 12 s with
    0.23's --emit-elf, 44 s with 0.17's -d on this machine, so always past the checks' timeout), which the
    safety policy allows: an #include of a device no longer reaches bpftrace at all."""
    return "BEGIN { " + " ".join(f"@m{n}=1;" for n in range(5500)) + f" @n = {index}; exit(); }}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "absent.toml", {"checks": {
        "timeout_s": CHECK_TIMEOUT_S, "memory_mb": MEMORY_MB, "max_concurrent": 2}})


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    created = Services.create(settings)
    yield created
    await created.aclose()


def _checks_of(parent: int) -> dict[int, int]:
    """This test process's compile checks now: pid -> VmPeak in KiB (bpftrace -d, --dry-run or --emit-elf)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0")) != parent or not argv or not argv[0].endswith(b"bpftrace"):
            continue
        if b"-d" in argv or b"--dry-run" in argv or b"--emit-elf" in argv:  # the check of 0.17 / 0.20 / 0.23
            found[int(entry.name)] = int(fields.get("VmPeak", "0 kB").split()[0])
    return found


@dataclass
class Watch:
    most_at_once: int = 0
    peak_kib: int = 0
    seen: set[int] = field(default_factory=set)


@contextmanager
def watching_checks() -> Iterator[Watch]:
    """Sample the compile checks every 20 ms while the block runs."""
    watch, done = Watch(), threading.Event()

    def sample() -> None:
        while not done.is_set():
            checks = _checks_of(os.getpid())
            watch.seen |= set(checks)
            watch.most_at_once = max(watch.most_at_once, len(checks))
            watch.peak_kib = max([watch.peak_kib, *checks.values()])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield watch
    finally:
        done.set()
        sampler.join()


async def _validate(client, program: str) -> tuple[dict, float]:  # type: ignore[no-untyped-def,type-arg]
    began = time.monotonic()
    result = await client.call_tool("validate_program", {"program": program})
    assert not result.is_error, result.content[0].text
    return result.structured_content, time.monotonic() - began


def _compile_layer(report: dict) -> dict:  # type: ignore[type-arg]
    return next(layer for layer in report["layers"] if layer["layer"] == "compile")


async def test_include_of_dev_zero_is_stopped_by_the_memory_limit(client) -> None:  # type: ignore[no-untyped-def]
    with watching_checks() as watch:
        report, seconds = await _validate(client, '#include "/dev/zero"\nBEGIN { exit(); }')
    assert not report["valid"] and seconds < CHECK_TIMEOUT_S + 10
    if watch.seen:  # the safety policy may refuse the include before bpftrace sees it; then nothing grew
        assert watch.peak_kib <= MEMORY_MB * 1024
        assert any("checks.memory_mb" in error["message"] for error in report["errors"]), report["errors"]
    assert not _checks_of(os.getpid())


async def test_blocking_includes_end_at_the_timeout(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    for target in ("/dev/kmsg", str(fifo)):
        report, seconds = await _validate(client, f'#include "{target}"\nBEGIN {{ exit(); }}')
        assert not report["valid"], target
        assert seconds < CHECK_TIMEOUT_S + 10, (target, seconds)
    assert not _checks_of(os.getpid())


async def test_ten_parallel_checks_take_two_slots(client) -> None:  # type: ignore[no-untyped-def]
    outcomes: list[tuple[dict, float]] = []  # type: ignore[type-arg]

    async def one(index: int) -> None:
        outcomes.append(await _validate(client, slow_to_check(index)))

    began = time.monotonic()
    with watching_checks() as watch:
        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(one, index)
    elapsed = time.monotonic() - began
    assert len(outcomes) == 10 and not any(report["valid"] for report, _ in outcomes)
    assert 1 <= watch.most_at_once <= 2, watch.most_at_once
    # Each call waits for a slot and then runs within one timeout in all: none takes much longer.
    assert elapsed < 2 * CHECK_TIMEOUT_S + 15, elapsed
    assert not _checks_of(os.getpid())


async def test_a_program_mcptrace_cannot_parse_never_reaches_bpftrace(client) -> None:  # type: ignore[no-untyped-def]
    with watching_checks() as watch:
        report, seconds = await _validate(client, "é" * 30_000)
    assert not report["valid"] and report["errors"][0]["category"] == "syntax"
    assert _compile_layer(report)["state"] == "skipped"
    assert not watch.seen and seconds < 10


async def test_programs_over_the_size_limit_are_refused_before_anything_runs(client, settings) -> None:  # type: ignore[no-untyped-def]
    too_big = "BEGIN { " + "@x = 1; " * (settings.runs.max_program_bytes // 8 + 1) + "}"
    with watching_checks() as watch:
        result = await client.call_tool("validate_program", {"program": too_big})
    assert result.is_error and "max_program_bytes" in result.content[0].text
    assert not watch.seen


async def test_pathological_nesting_is_refused_quickly_without_bpftrace(client) -> None:  # type: ignore[no-untyped-def]
    deep = "BEGIN { $x = " + "(" * 30_000 + "1" + ")" * 30_000 + "; }"
    in_a_string = 'BEGIN { printf("' + "(" * 5_000 + '\\n"); exit(); }'  # brackets in strings do not nest
    with watching_checks() as watch:
        report, seconds = await _validate(client, deep)
    assert not report["valid"] and "nest more than" in report["errors"][0]["message"]
    assert not watch.seen and seconds < 10
    report, _ = await _validate(client, in_a_string)
    assert report["valid"], report["errors"]
