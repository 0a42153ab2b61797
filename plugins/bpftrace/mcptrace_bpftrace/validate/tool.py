"""The validate_program tool: every layer of validation, without running anything."""

from __future__ import annotations

from pydantic import Field

from mcptrace_core.inputs import ProgramText, RunTimeout, timeout_field
from mcptrace_core.safety.models import CostPrediction, ValidationReport
from mcptrace_core.safety.text import report_text
from mcptrace_core.tools import ToolCall, ToolInput, ToolOutput, ToolSpec

from mcptrace_bpftrace.guard import check

SafetyLevel = Field(
    None,
    pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
    description=(
        "Safety policy to check against: 'strict', 'standard' or 'permissive' (or a name a plugin or the policy "
        "file adds). Default: the server's safety.level. A run must pass the server's level too, so naming a "
        "looser level never loosens anything; naming a stricter one makes the run stricter."
    ),
)


class ValidateInput(ToolInput):
    program: ProgramText
    safety_level: str | None = SafetyLevel
    timeout_s: RunTimeout = timeout_field("The run's intended duration in seconds, checked against the policy.")
    sample_s: float = Field(
        0, ge=0, le=2,
        description="Count each tracepoint this host never measured for this many seconds (at most 2; specs of at "
        "most 10 probes, 3 specs) so estimated_cost.predicted has its event rate. 0: use past measurements only.",
    )


class ValidationResult(ValidationReport, ToolOutput):
    def to_text(self) -> str:
        return report_text(self)


async def validate_program(call: ToolCall, args: ValidateInput) -> ValidationResult:
    checked = await check(call, args.program, args.timeout_s, args.safety_level)
    result = ValidationResult.model_validate(checked.report.model_dump())
    if result.valid and result.estimated_cost is not None:
        result.estimated_cost.predicted = await predicted_cost(call, args.program, result, args.sample_s)
    return result


async def predicted_cost(
    call: ToolCall, program: str, report: ValidationReport, sample_s: float
) -> CostPrediction | None:
    """The first prediction a run watcher offers (the overhead plugin's, calibrated on this host)."""
    for watcher in call.services.registry.run_watchers:
        predict = getattr(watcher, "predict", None)
        if predict is not None:
            return await predict(call.services, program, report.probes, sample_s)
    return None


def validate_tool() -> ToolSpec:
    return ToolSpec(
        name="validate_program",
        title="Check a bpftrace program before running it",
        description=(
            "Validate a bpftrace program without running it: syntax (line and column), a compile check by the "
            "host's bpftrace, what each probe attaches here, and the safety policy's findings. Returns valid, the "
            "verdict (allow, confirm: the user must approve, block), structured errors with hints and suggestions "
            "(nearest real probe names, a tracepoint's real fields, tracepoints replacing kprobes where kprobes do "
            "not work), findings with fixes, probe counts and an estimated cost. exec_program runs the same checks."
        ),
        input_model=ValidateInput,
        output_model=ValidationResult,
        handler=validate_program,
        read_only=True,
        idempotent=True,
    )
