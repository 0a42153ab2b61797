"""How a run is shown to a caller: the structured result shared by exec_program, get_result and stop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import Field

from mcptrace_core.models import TraceError, TraceMap, TraceTable
from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.runs.models import RunSpec, RunStatus
from mcptrace_core.runs.overhead import LimitCrossed, RunOverhead
from mcptrace_core.tools import ToolOutput

StatusName = Literal[
    "running", "completed", "failed", "stopped", "timed_out", "killed", "interrupted", "over_budget", "output_limited"
]
TEXT_PREVIEW_LINES = 60


class RunView(Protocol):
    """What a result is built from: a live Run, or a past run read back from the history store."""

    @property
    def id(self) -> str: ...
    @property
    def spec(self) -> RunSpec: ...
    @property
    def status(self) -> RunStatus: ...
    @property
    def output(self) -> OutputBuffer: ...
    @property
    def stderr(self) -> OutputBuffer: ...
    @property
    def maps(self) -> Mapping[str, TraceMap]: ...
    @property
    def errors(self) -> Sequence[TraceError]: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def attached_probes(self) -> int | None: ...
    @property
    def lost_events(self) -> int: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def stop_note(self) -> str | None: ...
    @property
    def started_at(self) -> float: ...
    @property
    def overhead(self) -> RunOverhead | None: ...
    @property
    def limit_crossed(self) -> LimitCrossed | None: ...


class ExecutionResult(ToolOutput):
    execution_id: str
    backend: str
    status: StatusName = Field(description="running, or how the run ended.")
    offset: int = Field(description="Index of the first line in `lines` (0-based, counting dropped lines).")
    lines: list[str] = Field(description="Output lines (printf output and maps as text), cleaned.")
    next_offset: int = Field(description="Pass as offset to read on.")
    total_lines: int = Field(description="Lines produced so far, kept or dropped.")
    has_more: bool = Field(description="More lines are available now past next_offset.")
    skipped_lines: int = Field(description="Lines between the requested offset and `offset` lost to the cap.")
    dropped_lines: int = Field(description="Lines dropped from the middle of the output by the caps.")
    exit_code: int | None = Field(description="Process exit status; negative for a signal; null while running.")
    error: str | None = Field(description="The first error, in one line; null when there is none.")
    errors: list[TraceError] = Field(description="Structured errors with hints and suggestions.")
    stderr: list[str] = Field(description="Diagnostics the tool printed (known harmless lines removed).")
    maps: list[TraceMap] = Field(description="The latest printout of each map (or BCC histogram), structured.")
    tables: list[TraceTable] = Field(
        default_factory=list, description="Column tables among this page's lines, parsed into rows (BCC tools)."
    )
    attached_probes: int | None = Field(description="Probes the tracer reported attaching.")
    lost_events: int = Field(description="Events the kernel dropped because the reader fell behind.")
    duration_s: float
    stop_note: str | None = Field(description="How the run was stopped, when it was.")
    overhead: RunOverhead | None = Field(
        None, description="What the run costs the host (events, BPF time, CPU share, memory): live while it runs, "
        "final once it ended; null when nothing measured it."
    )
    limit_crossed: LimitCrossed | None = Field(
        None, description="The runtime limit the run was stopped for (status over_budget or output_limited)."
    )

    def to_text(self) -> str:
        head = f"execution {self.execution_id}: {self.status}"
        if self.exit_code is not None:
            head += f" (exit {self.exit_code})"
        head += f", {self.duration_s:.2f} s, {self.total_lines} lines"
        if self.dropped_lines:
            head += f" ({self.dropped_lines} dropped by the output cap)"
        parts = [head]
        if self.stop_note:
            parts.append(f"stop: {self.stop_note}")
        if self.overhead is not None:
            parts.append(self.overhead.line())
        for error in self.errors:
            where = f" at line {error.line}" if error.line else ""
            parts.append(f"error [{error.category}]{where}: {error.message}")
            if error.hint:
                parts.append(f"  hint: {error.hint}")
            if error.suggestions:
                parts.append("  try: " + "; ".join(error.suggestions))
        if self.skipped_lines:
            parts.append(f"[{self.skipped_lines} lines dropped before line {self.offset}]")
        shown = self.lines[:TEXT_PREVIEW_LINES]
        parts.extend(shown)
        if len(self.lines) > len(shown):
            parts.append(f"[{len(self.lines) - len(shown)} more lines in this page's structured content]")
        if self.has_more:
            parts.append(f"[more output: call get_result with offset={self.next_offset}]")
        return "\n".join(parts)


class ExecutionSummary(ToolOutput):
    execution_id: str
    backend: str
    status: StatusName
    label: str = Field(description="The program's first line or the tool and its arguments.")
    started_at: str = Field(description="ISO 8601 start time (UTC).")
    duration_s: float
    exit_code: int | None
    total_lines: int
    overhead: RunOverhead | None = Field(None, description="What the run costs (final once it ended).")
    limit_crossed: LimitCrossed | None = Field(None, description="The runtime limit it was stopped for.")


def execution_result(run: RunView, offset: int, limit: int) -> ExecutionResult:
    """The run's state and up to ``limit`` lines from ``offset``."""
    offset = min(max(0, offset), run.output.total)
    page = run.output.page(offset, limit)
    next_offset = page.offset + len(page.lines)
    tables = run.spec.page_tables(page.offset, page.lines)  # first: a decoder may bring its maps up to date
    first_error = run.errors[0].message if run.errors else None
    if first_error is None and run.status.value == "failed":
        tail = run.stderr.last(1)
        first_error = tail[0] if tail else f"exited with status {run.exit_code}"
    return ExecutionResult(
        execution_id=run.id,
        backend=run.spec.backend,
        status=run.status.value,
        offset=page.offset,
        lines=page.lines,
        next_offset=next_offset,
        total_lines=run.output.total,
        has_more=next_offset < run.output.total,
        skipped_lines=page.skipped,
        dropped_lines=run.output.dropped,
        exit_code=run.exit_code,
        error=first_error,
        errors=list(run.errors),
        stderr=run.stderr.last(50),
        maps=list(run.maps.values()),
        tables=tables,
        attached_probes=run.attached_probes,
        lost_events=run.lost_events,
        duration_s=run.duration_s,
        stop_note=run.stop_note,
        overhead=run_overhead(run),
        limit_crossed=run.limit_crossed,
    )


def execution_summary(run: RunView) -> ExecutionSummary:
    return ExecutionSummary(
        execution_id=run.id,
        backend=run.spec.backend,
        status=run.status.value,
        label=run.spec.label,
        started_at=datetime.fromtimestamp(run.started_at, UTC).isoformat(timespec="seconds"),
        duration_s=run.duration_s,
        exit_code=run.exit_code,
        total_lines=run.output.total,
        overhead=run_overhead(run),
        limit_crossed=run.limit_crossed,
    )


def run_overhead(run: RunView) -> RunOverhead | None:
    """The run's measured cost, with the lost events its decoder counted up to now."""
    overhead = run.overhead
    if overhead is None or overhead.lost_events == run.lost_events:
        return overhead
    return overhead.model_copy(update={"lost_events": run.lost_events})
