"""Validate, then pass the safety gate, then build the run: the one way a bpftrace program starts.

exec_program and exec_with_retry both come through here, so no path runs a program that was not
validated on this server under the configured policy (and the caller's, when it asks for a stricter
one). What the history keeps of an attempt is settled here too: the example or template the program
came from, and what validation said, go on the run's spec (or, when the gate refuses it, on the
refusal's record).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from mcptrace_core.runs.models import RunLimitError, RunSpec
from mcptrace_core.safety.gate import Decision, authorize
from mcptrace_core.safety.models import SafetyPolicy, ValidationReport
from mcptrace_core.safety.policies import PolicyError, run_policies
from mcptrace_core.tools import ToolCall, ToolError

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.limits import LimitError, limits_env


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


async def check(call: ToolCall, program: str, timeout_s: float | None, safety_level: str | None) -> Checked:
    """Validate ``program`` for a run: parse, compile, probes, safety rules of every policy in force."""
    from mcptrace_bpftrace.validate.validator import validate  # the program model loads on first use

    timeout = run_timeout(call, program, timeout_s)
    try:
        policies = run_policies(call.services, safety_level)
        # The source is looked up while bpftrace validates: the first lookup reads the example packs.
        report, source = await asyncio.gather(
            validate(backend_of(call), program, policies, call.services.registry.safety_rules, timeout),
            call.services.sources.source_of(program),
        )
    except (PolicyError, LimitError) as error:
        raise ToolError(str(error)) from None
    return Checked(program, timeout, policies, report, source)


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
    spec = backend_of(call).run_spec(
        checked.program, checked.timeout_s, limits_env(decision.limits),
        unsafe=decision.use_unsafe, chain_id=chain_id, attempt=attempt,
    )
    return replace(
        spec, source=checked.source, validation=checked.report.summary(), budget=decision.budget_for(max_overhead_pct)
    )
