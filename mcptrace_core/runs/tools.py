"""The backend-agnostic run tools: get_result, stop_execution, list_executions.

Registered through the ``mcptrace`` entry-point group as the ``runs`` plugin, like any other plugin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcptrace_core import hookimpl
from mcptrace_core.history.lookup import find_run
from mcptrace_core.runs.models import RunNotFoundError, RunStatus
from mcptrace_core.runs.run import Run
from mcptrace_core.runs.results import (
    ExecutionResult,
    ExecutionSummary,
    StatusName,
    execution_result,
    execution_summary,
)
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

ExecutionId = Field(min_length=1, max_length=64, description="The execution_id returned when the run started.")


class GetResultInput(ToolInput):
    execution_id: str = ExecutionId
    offset: int = Field(0, ge=0, description="First line to return (0-based); use next_offset to read on.")
    limit: int = Field(200, ge=1, le=5000, description="Most lines to return.")
    wait_s: float = Field(
        0, ge=0, le=60, description="If no line exists past offset yet and the run is going, wait this long for one."
    )


class StopInput(ToolInput):
    execution_id: str = ExecutionId


class StopResult(ToolOutput):
    execution: ExecutionResult = Field(description="The ended run, with its final maps and last lines.")

    def to_text(self) -> str:
        return self.execution.to_text()


class ListInput(ToolInput):
    status: StatusName | None = Field(None, description="Only runs in this state; all when omitted.")


class ListResult(ToolOutput):
    executions: list[ExecutionSummary]

    def to_text(self) -> str:
        if not self.executions:
            return "no executions"
        return "\n".join(
            f"{e.execution_id} {e.status:<10} {e.duration_s:7.2f}s {e.total_lines:>7} lines  {e.label}"
            for e in self.executions
        )


STOP_TAIL_LINES = 100


def _run(call: ToolCall, execution_id: str) -> Run:
    try:
        return call.services.runs.get(execution_id)
    except RunNotFoundError as error:
        raise ToolError(str(error)) from None


async def get_result(call: ToolCall, args: GetResultInput) -> ExecutionResult:
    run = await find_run(call.services, args.execution_id)
    if isinstance(run, Run) and args.wait_s:
        await run.wait_for_lines(args.offset, args.wait_s)
    return execution_result(run, args.offset, args.limit)


async def stop_execution(call: ToolCall, args: StopInput) -> StopResult:
    run = _run(call, args.execution_id)
    if not run.status.finished:
        await call.services.runs.stop(run.id)
    tail_offset = max(0, run.output.total - STOP_TAIL_LINES)
    return StopResult(execution=execution_result(run, tail_offset, STOP_TAIL_LINES))


async def list_executions(call: ToolCall, args: ListInput) -> ListResult:
    status = RunStatus(args.status) if args.status else None
    return ListResult(executions=[execution_summary(run) for run in call.services.runs.list(status)])


@hookimpl
def mcptrace_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="get_result",
            title="Get the output of a run",
            description=(
                "Page through the output of a run started by exec_program (or another run tool): status, "
                "lines from offset (use next_offset to continue), structured maps, errors with hints, "
                "exit code, duration. wait_s long-polls for new lines of a running program. Runs of earlier "
                "server processes are read back from the history (the lines it kept, maps, errors)."
            ),
            input_model=GetResultInput,
            output_model=ExecutionResult,
            handler=get_result,
            read_only=True,
            idempotent=False,
        ),
        ToolSpec(
            name="stop_execution",
            title="Stop a run and keep its maps",
            description=(
                "Stop a running program: SIGINT first so bpftrace prints its maps, SIGKILL of its process "
                "group only if it does not exit within a grace period sized by its attached probes. Returns "
                "the final maps and the last lines of output. Stopping an ended run just returns it."
            ),
            input_model=StopInput,
            output_model=StopResult,
            handler=stop_execution,
            read_only=False,
            destructive=False,
            idempotent=True,
        ),
        ToolSpec(
            name="list_executions",
            title="List runs",
            description="List the runs this server knows, newest first, optionally only those in one state.",
            input_model=ListInput,
            output_model=ListResult,
            handler=list_executions,
            read_only=True,
            idempotent=False,
        ),
    ]
