"""exec_with_retry: run a program and, when it fails, hand back what to fix; retry only what may pass.

A failure in the program (syntax, a missing probe, a verifier rejection, an attach error) comes back
as structured errors with hints and suggestions, the attempt number and a chain_id: the assistant
fixes the program and calls again with the chain_id. Running the same failed program again is
answered from the chain without running it. A failure of a busy host (the concurrency limit, a busy
resource) is retried here with exponential backoff, up to max_retries times.
"""

from __future__ import annotations

import asyncio
import random
from typing import Literal

from pydantic import Field

from mcptrace_core.inputs import ProgramText, RunTimeout, timeout_field
from mcptrace_core.models import TraceError
from mcptrace_core.privilege import PrivilegeError
from mcptrace_core.runs.follow import follow
from mcptrace_core.runs.models import RunLimitError, RunStartError, RunStatus
from mcptrace_core.runs.results import ExecutionResult, execution_result
from mcptrace_core.runs.run import Run
from mcptrace_core.safety.audit import program_digest
from mcptrace_core.safety.gate import Decision
from mcptrace_core.safety.models import Finding, ValidationReport
from mcptrace_core.safety.text import error_lines, finding_lines
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

from mcptrace_bpftrace.chains import Attempt
from mcptrace_bpftrace.executable import BpftraceMissing
from mcptrace_bpftrace.guard import Checked, admit, backend_of, check, run_spec_for
from mcptrace_bpftrace.validate.tool import SafetyLevel

RESULT_LINES = 500
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
SUCCESS = (RunStatus.completed, RunStatus.stopped, RunStatus.timed_out)

Outcome = Literal["succeeded", "failed", "invalid", "refused", "repeated", "busy"]


class RetryInput(ToolInput):
    program: ProgramText
    max_retries: int = Field(
        3, ge=0, le=10,
        description="How often to retry a run that failed because the host was busy (the concurrency limit, a busy "
        "resource), with exponential backoff. Errors in the program are never retried: they come back to be fixed.",
    )
    timeout_s: RunTimeout = timeout_field("Stop the run after this many seconds (maps are still printed).")
    chain_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The chain_id returned by the previous attempt when this program is a fix of it; omit to start.",
    )
    safety_level: str | None = SafetyLevel
    confirm: bool = Field(
        False, description="Set true only when the user approved this exact program; counts only where the policy says so.",
    )


class RetryResult(ToolOutput):
    chain_id: str = Field(description="Pass it back with the fixed program to continue this chain of attempts.")
    attempt: int = Field(description="This attempt's number in the chain (1 for the first).")
    outcome: Outcome = Field(
        description="succeeded; failed (the run failed: fix the program); invalid (validation failed: fix it); "
        "refused (the safety policy or the user said no); repeated (this exact program already failed in the chain); "
        "busy (the host stayed busy through every retry)."
    )
    execution_id: str | None = Field(description="The run's id for get_result; null when nothing ran.")
    errors: list[TraceError] = Field(description="What to fix, with hints and suggestions.")
    findings: list[Finding] = Field(default_factory=list, description="Safety findings, each with a fix.")
    retries: int = Field(0, description="Runs retried here because the host was busy.")
    next_step: str = Field(description="What to do now, in one sentence.")
    execution: ExecutionResult | None = Field(None, description="The run: status, last lines, maps.")
    validation: ValidationReport | None = Field(None, description="What validation found.")

    def to_text(self) -> str:
        lines = [f"{self.chain_id} attempt {self.attempt}: {self.outcome}" + (
            f" after {self.retries} retries" if self.retries else ""), self.next_step]
        lines += error_lines(self.errors) + finding_lines(self.findings)
        if self.execution is not None:
            lines.append(self.execution.to_text())
        return "\n".join(lines)


async def exec_with_retry(call: ToolCall, args: RetryInput) -> RetryResult:
    backend = backend_of(call)
    chain_id, number = backend.chains.begin(args.chain_id)
    digest = program_digest(args.program)

    def finish(
        outcome: Outcome,
        next_step: str,
        *,
        errors: list[TraceError] | None = None,
        findings: list[Finding] | None = None,
        execution: ExecutionResult | None = None,
        validation: ValidationReport | None = None,
        retries: int = 0,
    ) -> RetryResult:
        execution_id = execution.execution_id if execution is not None else None
        backend.chains.record(chain_id, Attempt(number, digest, outcome, tuple(errors or ()), execution_id))
        return RetryResult(
            chain_id=chain_id, attempt=number, outcome=outcome, next_step=next_step, execution_id=execution_id,
            errors=errors or [], findings=findings or [], retries=retries, execution=execution, validation=validation,
        )

    again = f"call exec_with_retry again with chain_id={chain_id!r}"
    previous = backend.chains.previous_failure(chain_id, digest)
    if previous is not None:
        return finish("repeated", f"This exact program already failed in attempt {previous.number}; change it as the "
                      f"errors say, then {again}.", errors=list(previous.errors))
    checked = await check(call, args.program, args.timeout_s, args.safety_level)
    try:
        decision = await admit(call, checked, args.confirm, chain_id, number)
    except ToolError as refusal:  # recorded in the history as this attempt of the chain
        if not checked.report.valid:
            return finish("invalid", f"Fix the errors (hints and suggestions say how), then {again}.",
                          errors=checked.report.errors, findings=checked.report.findings, validation=checked.report)
        return finish("refused", f"{str(refusal).splitlines()[0]}. Change the program as the findings' fixes say, "
                      f"then {again}.", findings=checked.report.findings, validation=checked.report)
    run, retries, busy = await _run_with_backoff(call, checked, decision, chain_id, number, args.max_retries)
    if run is None:
        return finish("busy", f"The host stayed busy through {retries} retries; try again later.",
                      errors=[busy] if busy else [], retries=retries, validation=checked.report)
    from mcptrace_bpftrace.validate.suggest import HostNames, enrich  # the program model loads on first use

    errors = run.errors
    if errors:  # the same suggestions as validation gives: tracepoints for a kprobe that cannot attach, ...
        errors = enrich(errors, HostNames.of(await backend.catalog.names()), None)
    execution = execution_result(run, max(0, run.output.total - RESULT_LINES), RESULT_LINES)
    execution = execution.model_copy(update={"errors": errors})
    if run.status in SUCCESS:
        return finish("succeeded", "Done: the output and maps are in execution (get_result pages the rest).",
                      retries=retries, execution=execution, validation=checked.report)
    return finish("failed", f"The run failed: fix the program as the errors say, then {again}.",
                  errors=errors, retries=retries, execution=execution, validation=checked.report)


async def _run_with_backoff(
    call: ToolCall, checked: Checked, decision: Decision, chain_id: str, number: int, max_retries: int
) -> tuple[Run | None, int, TraceError | None]:
    """Run until it ends for a reason other than a busy host; (None, retries, why) when it never got going."""
    busy: TraceError | None = None
    for retry in range(max_retries + 1):
        if retry:
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (retry - 1)) * random.uniform(0.8, 1.2)
            await call.report_progress(retry, max_retries, f"{busy.message if busy else 'busy'}; retry {retry} of "
                                       f"{max_retries} in {delay:.1f} s")
            await asyncio.sleep(delay)
        try:
            run = await call.services.runs.start(run_spec_for(call, checked, decision, chain_id, number))
        except RunLimitError as error:
            busy = TraceError(category="resource", message=str(error), transient=True,
                              hint="Other runs use every slot; stop one with stop_execution or wait.")
            continue
        except (BpftraceMissing, PrivilegeError, RunStartError) as error:
            raise ToolError(str(error)) from None
        await follow(call, run)
        if run.errors and all(error.transient for error in run.errors) and retry < max_retries:
            busy = run.errors[0]
            continue
        return run, retry, None
    return None, max_retries, busy


def retry_tool() -> ToolSpec:
    return ToolSpec(
        name="exec_with_retry",
        title="Run a bpftrace program, fixing it across attempts",
        description=(
            "Validate and run a bpftrace program and wait for it to end (progress streams its output). On failure, "
            "return structured errors with hints and suggestions, the attempt number and a chain_id: fix the program "
            "and call again with the chain_id. The same failed program is not run twice. Runs that failed because the "
            "host was busy (concurrency limit, busy resource) are retried with exponential backoff up to max_retries."
        ),
        input_model=RetryInput,
        output_model=RetryResult,
        handler=exec_with_retry,
        read_only=False,
        destructive=False,
        idempotent=False,
    )
