"""The project's examples compile and run on this host when their requirements are met.

Whether an example can run here is what search says (``mcptrace_core.search.host``: the one judgement of
runnable and missing). Every example that can is run for one second after it has attached, through the
real run manager; it must compile and stop cleanly with no error and no warning. Examples that cannot
(kprobes, hardware counters) are compiled by validation's compile layer (``bpftrace -d``) when their
probes exist here, so their syntax and semantics are checked too. All examples are checked concurrently
in one go (module fixture); each then has its own test item.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcptrace_core.config import RunSettings, load_settings
from mcptrace_core.models import Example
from mcptrace_core.runs.manager import RunManager
from mcptrace_core.runs.models import RunStatus
from mcptrace_core.search import host
from mcptrace_core.search.capability import from_example
from mcptrace_core.search.host import Availability
from mcptrace_core.services import Services
from tests.conftest import HAVE_BPFTRACE, IS_ROOT, requires_bpftrace
from tests.test_examples_core import EXAMPLES

CONCURRENCY = 12
ATTACH_TIMEOUT_S = 60.0
RUN_S = 1.0
STOP_GRACE_S = 30.0
"""Generous: attaching and detaching wait for kernel locks that other tracers on a busy CI host hold."""
_DIAGNOSTIC = re.compile(r"\b(?:ERROR|WARNING)\b")
_LOST_STACK = re.compile(r"failed to look up stack id -\d+")
"""A stack sample the kernel could not store (its stack map's bucket was taken: -EEXIST, common while
the machine is busy); bpftrace says so and goes on. Data lost to load, not a fault of the example."""


@dataclass
class Outcome:
    fit: Availability
    compiled: bool | None = None
    ran: bool | None = None
    problem: str | None = None


async def _compile(backend, example: Example, kprobes_usable: bool) -> str | None:  # type: ignore[no-untyped-def]
    """None when validation's compile layer (``bpftrace -d``) accepts the program without error or warning."""
    from mcptrace_bpftrace.validate.compile import compile_check

    argv = [*backend.command(), *backend.executable().check_flags, "-e", example.program]
    result = await compile_check(argv, {}, backend.host_facts(), backend.compile_cache.limiter)
    warnings = [
        warning
        for warning in result.warnings
        if kprobes_usable or "is not traceable" not in warning  # -d looks kprobes up in tracefs
    ]
    if result.errors or warnings:
        return f"bpftrace -d exited {result.exit_code}: " + " | ".join(
            [error.message for error in result.errors] + warnings
        )
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
    stderr = [line for line in run.stderr.last(50) if _DIAGNOSTIC.search(line) and not _LOST_STACK.search(line)]
    errors = [error for error in run.errors if not _LOST_STACK.search(error.message)]
    if (
        run.status not in (RunStatus.stopped, RunStatus.completed)
        or errors
        or stderr
        or run.exit_code != 0
    ):
        said = "; ".join(error.message for error in errors) or " | ".join(stderr)
        return f"status {run.status.value}, exit {run.exit_code}, attached {run.attached_probes}: {said}"
    return None


async def _check_all() -> dict[str, Outcome]:
    settings = load_settings(Path("/nonexistent/mcptrace-test-config.toml"))
    services = Services.create(settings)
    runs = RunManager(RunSettings(max_concurrent=CONCURRENCY, max_output_lines=1000))
    backend = services.backend("bpftrace")
    capabilities = {key: from_example(example) for key, example in EXAMPLES.items()}
    here = await host.gather(services, [probe for c in capabilities.values() for probe in c.probes])
    kprobes_usable = "kprobe" in here.usable_types
    limit = asyncio.Semaphore(CONCURRENCY)

    async def check(key: str, example: Example) -> Outcome:
        async with limit:
            outcome = Outcome(here.availability(capabilities[key]))
            if outcome.fit.absent:
                return outcome  # bpftrace -d cannot even resolve them here
            if outcome.fit.runnable and not example.run_exception:
                # A run compiles the program first and reports the same errors and warnings as -d.
                outcome.problem = await _run_one_second(services, runs, example)
                outcome.compiled = outcome.ran = outcome.problem is None
            else:
                outcome.problem = await _compile(backend, example, kprobes_usable)
                outcome.compiled = outcome.problem is None
            return outcome

    try:
        results = await asyncio.gather(*(check(key, example) for key, example in EXAMPLES.items()))
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
    if outcome.fit.absent:
        assert not outcome.fit.runnable  # nothing to check here: the kernel lacks these probes
    else:
        assert outcome.compiled, outcome.fit.missing
    if outcome.fit.runnable and not EXAMPLES[key].run_exception:
        assert outcome.ran


@requires_bpftrace
@pytest.mark.bpftrace
def test_most_examples_run_on_a_host_with_tracepoints_and_uprobes(outcomes: dict[str, Outcome]) -> None:
    ran = [key for key, outcome in outcomes.items() if outcome.ran]
    compiled_only = [key for key, outcome in outcomes.items() if outcome.compiled and not outcome.ran]
    print(f"\n{len(ran)} of {len(outcomes)} examples ran here; {len(compiled_only)} more compiled")
    assert len(ran) >= 0.8 * len(outcomes)
