"""#include makes clang read a file as root before anything runs: only system headers may be included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.includes import refused_includes
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext


class IncludeFileRule(SafetyRule):
    id: ClassVar[str] = "include-file"
    severity: ClassVar[Severity] = Severity.critical
    rationale: ClassVar[str] = (
        "clang reads an included file as root while bpftrace compiles the program, and its errors quote the "
        "file's words: #include of a key, a password file or a device leaks it before any probe runs."
    )
    fix: ClassVar[str] = (
        "Include only system headers (<linux/sched.h>, <net/sock.h>) from the policy's include_dirs; declare "
        "a struct in the program itself when no header has it."
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        return [
            self.finding(f"{include.text}: {include.refused}", _Place(include.line))
            for include in refused_includes(program.source, context.policy.include_dirs)
        ]


class _Place:
    """Where a refused directive is (findings take any object with line and col)."""

    def __init__(self, line: int) -> None:
        self.line, self.col = line, 1
