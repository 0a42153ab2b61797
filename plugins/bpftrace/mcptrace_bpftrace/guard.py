"""Validate, then pass the safety gate, then build the run: the one way a bpftrace program starts.

exec_program and exec_with_retry both come through here, so no path runs a program that was not
validated on this server under the configured policy (and the caller's, when it asks for a stricter
one). What the history keeps of an attempt is settled here too: the example or template the program
came from, and what validation said, go on the run's spec (or, when the gate refuses it, on the
refusal's record).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from mcptrace_core.runs.models import RunLimitError, RunSpec
from mcptrace_core.runs.run import Run
from mcptrace_core.safety.gate import Decision, authorize, combined_limits
from mcptrace_core.safety.models import LayerResult, SafetyPolicy, ValidationReport
from mcptrace_core.safety.policies import PolicyError, run_policies
from mcptrace_core.tools import ToolCall, ToolError

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.limits import LimitError, limits_env
from mcptrace_bpftrace.sizing import run_limits


def backend_of(call: ToolCall) -> BpftraceBackend:
    backend: BpftraceBackend = call.services.backend("bpftrace")
    return backend


@dataclass(frozen=True)
class Checked:
    """A program validated under the policies in force, ready for the gate."""

    program: str
    timeout_s: float
    policies: list[SafetyPolicy]
    report: ValidationReport
    source: str | None
    """The example or template the program is, when it is one."""
    compile_deferred: bool = False
    """bpftrace's compile check is left to the run: call ``settle_compile`` once it has started."""


def run_timeout(call: ToolCall, program: str, timeout_s: float | None) -> float:
    """The run's timeout after the size and timeout limits of the config (ToolError when over them)."""
    runs = call.services.settings.runs
    size = len(program.encode("utf-8"))
    if size > runs.max_program_bytes:
        raise ToolError(f"program: {size} bytes is over the limit of {runs.max_program_bytes} bytes (runs.max_program_bytes)")
    try:
        return call.services.runs.timeout_for(timeout_s)
    except RunLimitError as error:
        raise ToolError(str(error)) from None


async def check(
    call: ToolCall, program: str, timeout_s: float | None, safety_level: str | None, *, defer_compile: bool = False
) -> Checked:
    """Validate ``program`` for a run: parse, compile, probes, safety rules of every policy in force.

    ``defer_compile``: leave bpftrace's compile check to the run when everything else lets the program run
    as it is (see ``validator.analyze``); a program that is refused or needs the user's confirmation is
    compiled first all the same, so that its refusal, or the question, carries bpftrace's own errors.
    """
    timeout = run_timeout(call, program, timeout_s)
    try:
        policies = run_policies(call.services, safety_level)
        # The source is looked up while bpftrace validates: the first lookup reads the example packs.
        (report, deferred), source = await asyncio.gather(
            _validate(call, program, policies, timeout, defer_compile),
            call.services.sources.source_of(program),
        )
    except (PolicyError, LimitError) as error:
        raise ToolError(str(error)) from None
    return Checked(program, timeout, policies, report, source, deferred)


async def _validate(
    call: ToolCall, program: str, policies: list[SafetyPolicy], timeout_s: float, defer_compile: bool
) -> tuple[ValidationReport, bool]:
    """The validation report, and whether its compile layer was left to the run."""
    from mcptrace_bpftrace.validate.validator import analyze, judge  # the program model loads on first use
    from mcptrace_core.safety.includes import strictest_include_dirs

    backend, rules, limits = backend_of(call), call.services.registry.safety_rules, combined_limits(policies)
    include_dirs = strictest_include_dirs(policies)  # a policy that narrows them keeps headers from clang too
    analysis = await analyze(backend, program, limits, include_dirs, defer_compile=defer_compile)
    report = judge(analysis, policies, rules, timeout_s)
    if analysis.compile_deferred and (not report.valid or report.verdict != "allow"):
        analysis = await analyze(backend, program, limits, include_dirs)
        report = judge(analysis, policies, rules, timeout_s)
    return report, analysis.compile_deferred


async def settle_compile(call: ToolCall, checked: Checked, run: Run, confirm: bool) -> Checked:
    """Wait until a run whose compile check was deferred is past compiling; what validation would have said.

    bpftrace reports the probes it is about to attach (the ``attached_probes`` event) once the program has
    compiled, and attaches nothing before. A run that ends before that failed to compile: the program is
    validated in full (now with ``bpftrace -d``) and refused through the gate like any invalid program.
    """
    from mcptrace_bpftrace.validate.validator import COMPILED_BY_RUN_DETAIL

    deadline = time.monotonic() + call.services.settings.checks.timeout_s  # as long as a compile check may take
    while run.attached_probes is None and not run.status.finished and time.monotonic() < deadline:
        await run.wait_changed(deadline - time.monotonic())
    if run.attached_probes is None and run.status.finished and run.exit_code != 0:
        try:
            report, _ = await _validate(call, checked.program, checked.policies, checked.timeout_s, False)
        except LimitError as error:
            raise ToolError(str(error)) from None
        full = replace(checked, report=report, compile_deferred=False)
        if not report.valid:
            await admit(call, full, confirm)  # raises the refusal, audited and kept in the history
        return full
    if run.attached_probes is None:
        return checked  # still compiling after the check's own timeout: the run's result will tell
    backend = backend_of(call)
    command, env = backend.command_with(limits_env(combined_limits(checked.policies), backend.features()))
    backend.compile_cache.remember_compiled(command, backend.executable().check_flags, checked.program,
                                            env, checked.report.requires_unsafe)
    layers = [LayerResult(layer="compile", state="passed", detail=COMPILED_BY_RUN_DETAIL)
              if layer.layer == "compile" else layer for layer in checked.report.layers]
    return replace(checked, report=checked.report.model_copy(update={"layers": layers}), compile_deferred=False)


async def admit(
    call: ToolCall, checked: Checked, confirm: bool, chain_id: str | None = None, attempt: int | None = None
) -> Decision:
    """Pass the safety gate: a ToolError (audited, and recorded in the history) when refused, else how the
    run may go. An invalid program is refused here too, so every attempt is seen by the gate."""
    return await authorize(
        call, checked.report, checked.policies, program=checked.program, confirm_argument=confirm,
        backend="bpftrace", chain_id=chain_id, attempt=attempt, source=checked.source,
    )


def run_spec_for(
    call: ToolCall, checked: Checked, decision: Decision, chain_id: str | None = None, attempt: int | None = None,
    max_overhead_pct: float | None = None,
) -> RunSpec:
    """A fresh run of an admitted program (each run needs its own spec: the decoder keeps state), with the
    runtime budget of the policies in force, lowered to ``max_overhead_pct`` when the caller asks."""
    backend = backend_of(call)
    limits = run_limits(decision.limits, call.services.settings.bpftrace.map_keys)
    spec = backend.run_spec(
        checked.program, checked.timeout_s, limits_env(limits, backend.features()),
        unsafe=decision.use_unsafe, chain_id=chain_id, attempt=attempt,
    )
    return replace(
        spec, source=checked.source, validation=checked.report.summary(), confirmed_by=decision.confirmed_by,
        budget=decision.budget_for(max_overhead_pct),
    )
