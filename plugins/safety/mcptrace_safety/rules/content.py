"""Copying other processes' data into the trace: buffers of reads and writes, environments, typed lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.dataflow import content_reads, text_of
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext


class ContentCaptureRule(SafetyRule):
    """Judges where data comes from and whether its memory is read (``mcptrace_core.program.dataflow``),
    through variables and maps: high, so confirmed under standard and refused under strict."""

    id: ClassVar[str] = "content-capture"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Reading the memory behind a syscall buffer, an environment, a command line past its program name or "
        "a user function's arguments copies what other people read, write and type (files, terminals, "
        "passwords, tokens) into the trace, which is kept and shown to the assistant."
    )
    fix: ClassVar[str] = (
        "Record metadata instead: pid, comm, sizes (args->count, retval), latencies, file names "
        "(str(args->filename)); capture content only with the consent of the people whose data it is."
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings, seen = [], set()
        for read in content_reads(program):
            key = (read.probe.line, read.probe.col, read.expression)
            if key in seen:
                continue
            seen.add(key)
            findings.append(self.finding(
                f"{text_of(read.at)} on {read.probe.text} copies {read.kind}: {read.expression}", read.at,
            ))
        return findings
