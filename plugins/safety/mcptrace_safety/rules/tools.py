"""Installed tools (BCC and libbpf tools) that change the host, capture what people type or read, or
compile what the caller wrote.

These rules judge a ``ToolRun`` by the tool's name in any of its builds (``sslsniff`` and
``sslsniff-bpfcc`` alike); the tool's arguments are already checked against its options. Their
severities place them under each policy: a state-changing tool is critical (refused by every built-in
policy), capturing content or compiling C is high (confirmed under standard, refused under strict,
allowed under permissive). A policy file changes that per rule id (``severities``, ``disabled_rules``)
or per tool (``tools``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.models import Finding, ToolRun

if TYPE_CHECKING:
    from mcptrace_core.safety.engine import RuleContext

CHANGES_STATE = {
    "reset-trace": "resets the kernel's tracing state: every ftrace, kprobe and uprobe event of tracefs is turned "
    "off, other people's tracing included",
    "inject": "makes kernel functions fail on purpose (error injection into the running kernel)",
}
CAPTURES_CONTENT = {
    "sslsniff": "captures the plain text of TLS connections (passwords, tokens, private messages)",
    "ttysnoop": "shows everything another terminal shows, typed passwords included",
    "bashreadline": "records every command typed in every bash shell, secrets typed on a command line included",
    "execsnoop": "prints every new program's arguments past its name (passwords and tokens given on command lines "
    "included), as the bpftrace rule content-capture judges join(args->argv)",
    "dbslower": "prints the text of database queries (personal data and credentials in them included)",
    "mysqld_qslower": "prints the text of MySQL queries (personal data and credentials in them included)",
}
COMPILES_CODE = {
    "trace": "its probe arguments are C code compiled into the BPF program",
    "argdist": "its specifiers are C expressions compiled into the BPF program",
}


class ToolChangesStateRule(SafetyRule):
    id: ClassVar[str] = "tool-changes-state"
    severity: ClassVar[Severity] = Severity.critical
    rationale: ClassVar[str] = (
        "A tracing assistant observes; a tool that resets tracing or injects faults changes the host for "
        "everyone on it."
    )
    fix: ClassVar[str] = "Run it by hand on a test machine if you must; trace with a tool that only observes."

    def check_tool(self, run: ToolRun, context: RuleContext) -> Sequence[Finding]:
        effect = CHANGES_STATE.get(run.base_name)
        return [self.finding(f"{run.name} {effect}")] if effect else []


class ToolCapturesContentRule(SafetyRule):
    id: ClassVar[str] = "tool-captures-content"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Some tools copy what people type or read (terminal contents, shell commands, decrypted TLS) into "
        "the trace, where it is kept and shown to the assistant."
    )
    fix: ClassVar[str] = (
        "Count or time the activity instead (execsnoop for commands, tcplife or tcpstates for connections); "
        "capture content only with the consent of the people whose content it is."
    )

    def check_tool(self, run: ToolRun, context: RuleContext) -> Sequence[Finding]:
        effect = CAPTURES_CONTENT.get(run.base_name)
        return [self.finding(f"{run.name} {effect}")] if effect else []


class ToolCompilesCodeRule(SafetyRule):
    id: ClassVar[str] = "tool-compiles-code"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "C compiled into a BPF program can call any BPF helper, including ones that write user memory or "
        "send signals; no rule reads it the way the bpftrace rules read a program."
    )
    fix: ClassVar[str] = "Write the probe as a bpftrace program, which is validated and checked rule by rule."

    def check_tool(self, run: ToolRun, context: RuleContext) -> Sequence[Finding]:
        effect = COMPILES_CODE.get(run.base_name)
        if effect is None or not run.arguments:  # without arguments it compiles nothing of the caller's
            return []
        return [self.finding(f"{run.name}: {effect}")]
