"""What the history keeps of a run, how a live Run becomes a row, and how a row becomes a run again.

The start row is built on the event loop from data the run already has (no I/O, a few microseconds);
the end snapshot copies only what the run holds by reference, and serialising it to JSON happens later
on the writer thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from pydantic import ConfigDict, Field

from mcptrace_core.history.identity import ProcessIdentity
from mcptrace_core.models import Model, TraceError, TraceMap
from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.runs.models import RunSpec, RunStatus, ValidationSummary, program_label
from mcptrace_core.runs.overhead import LimitCrossed, RunOverhead
from mcptrace_core.runs.results import StatusName
from mcptrace_core.runs.run import Run

STDERR_KEPT = 50
MAX_OUTPUT_BYTES = 512 * 1024
"""Output kept per run in the history, at most, whatever history.max_output_lines allows (lines may be long)."""
SUCCESSFUL = ("completed", "stopped", "timed_out")
"""Statuses of a run that did its work: it ended on its own, or printed its maps when stopped."""
REFUSED = "refused"
"""The status of an attempt the safety gate turned down (invalid, blocked, not confirmed): no process ran."""
UNSUCCESSFUL = ("failed", "killed", "interrupted", REFUSED)
HistoryStatus = Literal[StatusName, "refused"]
"""Every status a history record may have: a run's, or refused."""


class RunRecord(Model):
    """One run as the history keeps it."""

    model_config = ConfigDict(**Model.model_config, defer_build=True)  # built on first use, not at server start

    id: str = Field(description="The execution_id.")
    backend: str
    label: str = Field(description="The program's first line or the tool and its arguments.")
    program: str | None
    parameters: dict[str, Any] = Field(description="argv, timeout_s and the extra environment of the run.")
    status: str
    exit_code: int | None
    error_category: str | None
    error_message: str | None
    errors: list[TraceError]
    verdict: str | None = Field(description="The validation verdict (allow/confirm/block) when one was given.")
    findings: list[dict[str, Any]] | None = Field(description="Safety findings of the validation, when given.")
    chain_id: str | None = Field(description="The retry chain of exec_with_retry, when the run is part of one.")
    attempt: int | None
    source: str | None = Field(
        description="The example or template the program came from ('example:<pack>/<id>', 'template:<name>'); "
        "null for a program of the caller's own."
    )
    summary: str | None = Field(description="The analysis summary of the output, when it was analysed.")
    output_head: list[str]
    output_tail: list[str]
    total_lines: int
    stderr: list[str]
    maps: list[TraceMap]
    attached_probes: int | None
    lost_events: int
    stop_note: str | None
    overhead: RunOverhead | None = Field(None, description="The run's final measured cost, when it was measured.")
    limit_crossed: LimitCrossed | None = Field(None, description="The runtime limit it was stopped for.")
    started_at: float = Field(description="Unix time the run started.")
    ended_at: float | None
    duration_s: float | None
    host: dict[str, Any]
    owner_pid: int = Field(description="The server process that ran it.")
    fixed_by: str | None = Field(description="The later attempt of the same retry chain that succeeded.")
    likely_fixed_by: str | None = Field(
        description="Heuristic: the next similar program the same server ran successfully soon after (no chain)."
    )
    confirmed_by: str | None = Field(
        None, description="Who confirmed the run when the policy asked (user or model), via which client and transport."
    )

    def view(self) -> StoredRun:
        """The run as get_result shows it."""
        spec = RunSpec(
            argv=list(self.parameters.get("argv") or []),
            backend=self.backend,
            label=self.label,
            timeout_s=float(self.parameters.get("timeout_s") or 0),
            program=self.program,
        )
        return StoredRun(
            id=self.id,
            spec=spec,
            status=RunStatus(self.status),
            output=OutputBuffer.restore(self.output_head, self.output_tail, self.total_lines),
            stderr=OutputBuffer.restore([], self.stderr, len(self.stderr)),
            maps={trace_map.name: trace_map for trace_map in self.maps},
            errors=self.errors,
            exit_code=self.exit_code,
            attached_probes=self.attached_probes,
            lost_events=self.lost_events,
            duration_s=self.duration_s or 0.0,
            stop_note=self.stop_note,
            started_at=self.started_at,
            overhead=self.overhead,
            limit_crossed=self.limit_crossed,
        )


@dataclass(frozen=True)
class StoredRun:
    """A past run, shaped like a live Run for the result builders (runs.results.RunView)."""

    id: str
    spec: RunSpec
    status: RunStatus
    output: OutputBuffer
    stderr: OutputBuffer
    maps: dict[str, TraceMap]
    errors: list[TraceError]
    exit_code: int | None
    attached_probes: int | None
    lost_events: int
    duration_s: float
    stop_note: str | None
    started_at: float
    overhead: RunOverhead | None = None
    limit_crossed: LimitCrossed | None = None


def text_hash(program: str | None, label: str, error: str | None, summary: str | None) -> str:
    """Identifies the text a run is searched by meaning with; runs of the same program share a vector."""
    return hashlib.blake2b(
        "\x1f".join((program or "", label, error or "", summary or "")).encode(), digest_size=12
    ).hexdigest()


def embed_text(program: str | None, label: str, error: str | None, summary: str | None) -> str:
    """The text a run is embedded as: what it traced, how it failed, what its output said."""
    parts = [label, program or "", f"error: {error}" if error else "", summary or ""]
    return "\n".join(part for part in parts if part)


@cache
def host_facts() -> str:
    uname = os.uname()
    return json.dumps({"hostname": uname.nodename, "kernel": uname.release, "machine": uname.machine})


def start_row(run: Run, owner: ProcessIdentity) -> dict[str, Any]:
    spec = run.spec
    return {
        "id": run.id,
        "backend": spec.backend,
        "label": spec.label,
        "program": spec.program,
        "parameters": json.dumps({"argv": spec.argv, "timeout_s": spec.timeout_s, "env": dict(spec.env)}),
        "status": run.status.value,
        **_validation_columns(spec.validation),
        "chain_id": spec.chain_id,
        "attempt": spec.attempt,
        "source": spec.source,
        "confirmed_by": spec.confirmed_by,
        "started_at": run.started_at,
        **_owner_columns(owner),
        "text_hash": text_hash(spec.program, spec.label, None, None),
    }


@dataclass(frozen=True)
class RefusedAttempt:
    """A program the safety gate turned down before anything ran, and why (safety.gate.authorize)."""

    backend: str
    program: str
    reason: str
    """invalid, blocked or not_confirmed (as in the audit log)."""
    message: str
    """The refusal in one line, e.g. the first validation error."""
    errors: tuple[TraceError, ...]
    validation: ValidationSummary
    parameters: dict[str, Any]
    """What the caller asked for besides the program (the tool, the policies in force)."""
    chain_id: str | None = None
    attempt: int | None = None
    source: str | None = None

    def row(self, run_id: str, owner: ProcessIdentity) -> dict[str, Any]:
        """Its history row: status refused, no process, started and ended at once.

        ``error_category`` is the first validation error's category for an invalid program, else the
        reason (blocked, not_confirmed): what an assistant filters and links fixes by.
        """
        now = time.time()
        label = program_label(self.program)
        first = self.errors[0] if self.errors else None
        return {
            "id": run_id,
            "backend": self.backend,
            "label": label,
            "program": self.program,
            "parameters": json.dumps(self.parameters),
            "status": REFUSED,
            "error_category": first.category if first else self.reason,
            "error_message": self.message,
            "errors": json.dumps([error.model_dump(mode="json") for error in self.errors]),
            **_validation_columns(self.validation),
            "chain_id": self.chain_id,
            "attempt": self.attempt,
            "source": self.source,
            "started_at": now,
            "ended_at": now,
            "duration_s": 0.0,
            **_owner_columns(owner),
            "text_hash": text_hash(self.program, label, self.message, None),
        }


def _validation_columns(validation: ValidationSummary | None) -> dict[str, Any]:
    if validation is None:
        return {"verdict": None, "findings": None}
    return {"verdict": validation.verdict, "findings": json.dumps(validation.findings)}


def _owner_columns(owner: ProcessIdentity) -> dict[str, Any]:
    return {"host": host_facts(), "owner_pid": owner.pid, "owner_boot": owner.boot_id, "owner_start": owner.start_ticks}


@dataclass(frozen=True)
class EndSnapshot:
    """What a run ended with; taken on the event loop, serialised on the writer thread."""

    id: str
    status: str
    exit_code: int | None
    errors: list[TraceError]
    head: list[str]
    tail: list[str]
    total_lines: int
    stderr: list[str]
    maps: list[TraceMap]
    attached_probes: int | None
    lost_events: int
    stop_note: str | None
    ended_at: float
    duration_s: float
    overhead: RunOverhead | None = None
    limit_crossed: LimitCrossed | None = None

    @classmethod
    def of(cls, run: Run, max_lines: int) -> EndSnapshot:
        head, tail = kept_ends(run.output, max_lines)
        return cls(
            id=run.id,
            status=run.status.value,
            exit_code=run.exit_code,
            errors=list(run.errors),
            head=head,
            tail=tail,
            total_lines=run.output.total,
            stderr=run.stderr.last(STDERR_KEPT),
            maps=list(run.maps.values()),
            attached_probes=run.attached_probes,
            lost_events=run.lost_events,
            stop_note=run.stop_note,
            ended_at=time.time(),
            duration_s=run.duration_s,
            overhead=run.overhead,
            limit_crossed=run.limit_crossed,
        )

    def columns(self) -> dict[str, Any]:
        first = self.errors[0] if self.errors else None
        message = first.message if first else None
        if message is None and self.status == "failed":
            message = self.stderr[-1] if self.stderr else f"exited with status {self.exit_code}"
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "error_category": first.category if first else None,
            "error_message": message,
            "errors": json.dumps([error.model_dump(mode="json") for error in self.errors]),
            "output": json.dumps({"head": self.head, "tail": self.tail}),
            "total_lines": self.total_lines,
            "stderr": json.dumps(self.stderr),
            "maps": json.dumps([trace_map.model_dump(mode="json") for trace_map in self.maps]),
            "attached_probes": self.attached_probes,
            "lost_events": self.lost_events,
            "stop_note": self.stop_note,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "overhead": self.overhead.model_dump_json() if self.overhead is not None else None,
            "limit_crossed": self.limit_crossed.model_dump_json() if self.limit_crossed is not None else None,
        }


def kept_ends(output: OutputBuffer, max_lines: int, max_bytes: int = MAX_OUTPUT_BYTES) -> tuple[list[str], list[str]]:
    """Up to ``max_lines`` kept lines and about ``max_bytes``: half from the start, the rest from the end."""
    if max_lines <= 0:
        return [], []
    head = _within(output.page(0, (max_lines + 1) // 2).lines, max_bytes // 2)
    tail = _within(output.last(max_lines - len(head))[::-1], max_bytes - sum(len(line) + 1 for line in head))[::-1]
    overlap = len(head) - (output.total - len(tail))
    if overlap > 0:  # a short output: the end repeats lines the head has
        tail = tail[overlap:]
    return head, tail


def _within(lines: list[str], max_bytes: int) -> list[str]:
    """The first lines that fit in ``max_bytes`` (characters, as the run's own caps count)."""
    size = 0
    for index, line in enumerate(lines):
        size += len(line) + 1
        if size > max_bytes:
            return lines[:index]
    return lines


RECORD_COLUMNS = (
    "id, backend, label, program, parameters, status, exit_code, error_category, error_message, errors, verdict, "
    "findings, chain_id, attempt, source, summary, output, total_lines, stderr, maps, attached_probes, lost_events, "
    "stop_note, started_at, ended_at, duration_s, host, owner_pid, fixed_by, likely_fixed_by, confirmed_by, overhead, "
    "limit_crossed"
)


def record_from_row(row: Any) -> RunRecord:
    """A RunRecord from a row of ``SELECT {RECORD_COLUMNS}`` (sqlite3.Row)."""
    data = dict(row)
    output = json.loads(data.pop("output") or "{}")
    data["output_head"] = output.get("head", [])
    data["output_tail"] = output.get("tail", [])
    data["parameters"] = json.loads(data["parameters"])
    data["host"] = json.loads(data["host"])
    for key in ("errors", "stderr", "maps"):
        data[key] = json.loads(data[key] or "[]")
    data["findings"] = json.loads(data["findings"]) if data["findings"] else None
    for key in ("overhead", "limit_crossed"):
        data[key] = json.loads(data[key]) if data.get(key) else None
    return RunRecord.model_validate(data)


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
