"""The project's examples compile and run on this host when their requirements are met.

Every example whose requirements are met here is run for one second after it has attached, through the
real run manager; it must compile and stop cleanly with no error and no warning. Examples whose
requirements are not met (kprobes, hardware counters) are compiled with ``bpftrace -d`` when their
probes exist here, so their syntax and semantics are checked too. All examples are checked
concurrently in one go (module fixture); each then has its own test item.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mcptrace_core.config import RunSettings, load_settings
from mcptrace_core.models import Example
from mcptrace_core.packs.probespec import BINARY_TYPES, expand_alias, full_type
from mcptrace_core.runs.manager import RunManager
from mcptrace_core.runs.models import RunStatus
from mcptrace_core.services import Services
from tests.conftest import HAVE_BPFTRACE, IS_ROOT, requires_bpftrace
from tests.test_examples_core import EXAMPLES

CONCURRENCY = 12
ATTACH_TIMEOUT_S = 60.0
RUN_S = 1.0
STOP_GRACE_S = 30.0
"""Generous: attaching and detaching wait for kernel locks that other tracers on a busy CI host hold."""
_DIAGNOSTIC = re.compile(r"\b(?:ERROR|WARNING)\b")


@dataclass
class HostFit:
    """What this host lacks for an example: probe types or features, and probes that do not exist."""

    missing_requirements: list[str] = field(default_factory=list)
    missing_probes: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return not self.missing_requirements and not self.missing_probes


@dataclass
class Outcome:
    fit: HostFit
    compiled: bool | None = None
    ran: bool | None = None
    problem: str | None = None


def _features() -> dict[str, bool]:
    headers = Path(f"/lib/modules/{os.uname().release}/build").exists()
    return {"btf": Path("/sys/kernel/btf/vmlinux").exists(), "kernel_headers": headers}


async def _host_fit(example: Example, backend, usable: dict[str, bool], listed: set[str]) -> HostFit:  # type: ignore[no-untyped-def]
    fit = HostFit(missing_requirements=[r for r in example.requires if not usable.get(r, False)])
    for spec in example.probes:
        kind = full_type(spec)
        if kind == "tracepoint":
            pattern = re.compile("^" + ".*".join(map(re.escape, expand_alias(spec).split("*"))) + "$")
            if not any(pattern.match(name) for name in listed):
                fit.missing_probes.append(spec)
        elif kind in BINARY_TYPES:
            try:
                found = await backend.list_probes_raw(["-l", expand_alias(spec)])
            except ValueError:
                found = ""
            if not found.strip():
                fit.missing_probes.append(spec)
    return fit


async def _compile(command: list[str], example: Example, kprobes_usable: bool) -> str | None:
    """None when ``bpftrace -d`` accepts the program without error or warning, else the diagnostics."""
    from mcptrace_bpftrace.stderr import is_noise

    process = await asyncio.create_subprocess_exec(
        *command,
        "-d",
        "-e",
        example.program,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    diagnostics = [
        line
        for line in stderr.decode("utf-8", "replace").splitlines()
        if _DIAGNOSTIC.search(line)
        and not is_noise(line)
        and not (not kprobes_usable and "is not traceable" in line)  # -d looks kprobes up in tracefs
    ]
    if process.returncode != 0 or diagnostics:
        return f"bpftrace -d exited {process.returncode}: " + " | ".join(diagnostics)
    return None


async def _run_one_second(services: Services, runs: RunManager, example: Example) -> str | None:
    """None when the program attaches, runs one second and stops cleanly; else what went wrong."""
    spec = services.backend("bpftrace").run_spec(example.program, timeout_s=ATTACH_TIMEOUT_S + RUN_S)
    spec.grace_s = lambda attached_probes: STOP_GRACE_S
    run = await runs.start(spec)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ATTACH_TIMEOUT_S
    while run.attached_probes is None and not run.status.finished and loop.time() < deadline:
        await run.wait_changed(0.5)
    if not run.status.finished:
        await asyncio.sleep(RUN_S)
        if not run.status.finished:
            await runs.stop(run.id)
    await run.wait_done()
    stderr = [line for line in run.stderr.last(50) if _DIAGNOSTIC.search(line)]
    if (
        run.status not in (RunStatus.stopped, RunStatus.completed)
        or run.errors
        or stderr
        or run.exit_code != 0
    ):
        errors = "; ".join(error.message for error in run.errors) or " | ".join(stderr)
        return f"status {run.status.value}, exit {run.exit_code}, attached {run.attached_probes}: {errors}"
    return None


async def _check_all() -> dict[str, Outcome]:
    settings = load_settings(Path("/nonexistent/mcptrace-test-config.toml"))
    services = Services.create(settings)
    runs = RunManager(RunSettings(max_concurrent=CONCURRENCY, max_output_lines=1000))
    backend = services.backend("bpftrace")
    usable = {name: status.usable for name, status in (await backend.probe_types()).items()} | _features()
    listed = set(await backend.catalog.names())
    command = backend.command()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def check(example: Example) -> Outcome:
        async with limit:
            outcome = Outcome(await _host_fit(example, backend, usable, listed))
            if outcome.fit.missing_probes:
                return outcome  # bpftrace -d cannot even resolve them here
            if outcome.fit.runnable and not example.run_exception:
                # A run compiles the program first and reports the same errors and warnings as -d.
                outcome.problem = await _run_one_second(services, runs, example)
                outcome.compiled = outcome.ran = outcome.problem is None
            else:
                outcome.problem = await _compile(command, example, usable["kprobe"])
                outcome.compiled = outcome.problem is None
            return outcome

    try:
        results = await asyncio.gather(*(check(example) for example in EXAMPLES.values()))
    finally:
        await runs.shutdown()
        await services.aclose()
    return dict(zip(EXAMPLES, results, strict=True))


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    if not (HAVE_BPFTRACE and IS_ROOT):
        pytest.skip("needs root and bpftrace (.ci/run installs bpftrace and runs as root)")
    return asyncio.run(_check_all())


@requires_bpftrace
@pytest.mark.bpftrace
@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_example_compiles_and_runs_here_when_its_requirements_are_met(
    key: str, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[key]
    assert outcome.problem is None, outcome.problem
    if outcome.fit.missing_probes:
        assert not outcome.fit.runnable  # nothing to check here: the kernel lacks these probes
    else:
        assert outcome.compiled
    if outcome.fit.runnable and not EXAMPLES[key].run_exception:
        assert outcome.ran


@requires_bpftrace
@pytest.mark.bpftrace
def test_most_examples_run_on_a_host_with_tracepoints_and_uprobes(outcomes: dict[str, Outcome]) -> None:
    ran = [key for key, outcome in outcomes.items() if outcome.ran]
    compiled_only = [key for key, outcome in outcomes.items() if outcome.compiled and not outcome.ran]
    print(f"\n{len(ran)} of {len(outcomes)} examples ran here; {len(compiled_only)} more compiled")
    assert len(ran) >= 0.8 * len(outcomes)
