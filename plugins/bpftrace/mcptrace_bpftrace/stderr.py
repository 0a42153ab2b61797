"""Read bpftrace's diagnostics: drop the known noise, turn errors into structured TraceErrors.

bpftrace 0.17 reports a located error as ``stdin:LINE:COL1-COL2: ERROR: message`` (or
``stdin:L1-L2: ERROR:`` for a multi-line span), followed by the source line and a ``~~~`` underline.
Errors without a location (attach, load, FATAL) come as ``ERROR: ...``, often after a line from the
library that failed (``create_probe_event: open(...kprobe_events): No such file or directory``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mcptrace_core.models import ErrorCategory, TraceError

_NOISE = (
    "couldn't set RLIMIT_MEMLOCK",
    # 0.17 checks kprobe targets against this file; where it cannot be read the check is skipped.
    "Error while reading traceable functions from",
)
_LOCATED = re.compile(
    r"^(?:stdin|[^\s:]+):(?P<line>\d+)(?::(?P<col>\d+)(?:-\d+)?|-(?P<end>\d+))?:\s*(?P<level>ERROR|WARNING):\s*(?P<msg>.*)$"
)
# clang's diagnostics: "FILE:LINE:COL: error: message". In a file the program included, the message quotes
# the file's words ("unknown type name 'root'"): they are reported by place only, and the source lines and
# carets clang may print after them are dropped.
_CLANG = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+): (?:fatal )?(?:error|warning|note): ")
_PROGRAM_FILES = frozenset({"stdin", "<stdin>", "definitions.h", "<input>"})
_PLAIN = re.compile(r"^(?P<level>ERROR|FATAL):\s*(?P<msg>.*)$")
# LLVM's code generator reports in lower case: "error: <unknown>:0:0: in function X i64 (i8*): message".
_CODEGEN = re.compile(r"^error: <unknown>:\d+:\d+: in function (?P<probe>\S+)[^:]*:\s*(?P<msg>.*)$")

# (category, pattern on the message) in order; the first match wins.
_CATEGORIES: list[tuple[ErrorCategory, re.Pattern[str]]] = [
    ("syntax", re.compile(r"syntax error|unexpected|unterminated|invalid character", re.I)),
    ("unsafe_builtin", re.compile(r"unsafe function|--unsafe", re.I)),
    ("attach", re.compile(r"Error attaching probe|failed to attach", re.I)),
    ("unsupported_feature", re.compile(r"not available for your kernel|not supported|unsupported", re.I)),
    ("probe_not_found", re.compile(
        r"tracepoint not found|No probes to attach|does not exist or is not executable|Could not resolve symbol|"
        r"Invalid probe type|not traceable|no such (?:file|function|probe)|No matches", re.I)),
    ("permission", re.compile(
        r"permission denied|operation not permitted|must be run as root|root user|EPERM|lockdown", re.I)),
    ("verifier", re.compile(
        # 0.17: "Error loading program: X (try -v)"; 0.23: "Error loading BPF program for X. Use -v ..."
        r"Error loading (?:BPF )?program|Loading BPF object|verifier|BPF program is too large|invalid mem access|"
        r"stack limit", re.I)),
    ("resource", re.compile(r"RLIMIT|Cannot allocate memory|too many|exceeds|out of memory|ENOMEM|map.*full", re.I)),
]

# Failures of a busy host rather than of the program: worth retrying after a pause.
_TRANSIENT = re.compile(r"resource busy|EBUSY|temporarily unavailable|EAGAIN|try again", re.I)

_HINTS: dict[ErrorCategory, str] = {
    "syntax": "Fix the syntax at the given line and column; validate_program shows the parse.",
    "semantic": "The program parses but does not type-check: check names, fields and argument types.",
    "probe_not_found": "The probe does not exist here: find real names with list_probes (wildcards allowed).",
    "unsafe_builtin": "system(), signal() and override() need --unsafe; the safety policy decides whether they may run.",
    "unsupported_feature": "This kernel or bpftrace build lacks the feature: bpf_info lists what works here.",
    "permission": "Tracing needs root (or a privilege prefix); kernel lockdown also forbids it.",
    "verifier": "The kernel verifier (or the BPF code generator) rejected the program: bound every loop, "
    "read fewer or shorter strings per probe (each str() takes BPFTRACE_STRLEN bytes of a 512-byte stack).",
    "resource": "A kernel or bpftrace limit was hit: fewer probes or map keys, or a larger limit.",
    "attach": "A probe could not be attached on this host.",
}


@dataclass(frozen=True)
class HostFacts:
    """What the error reader needs to know about the host to explain attach failures."""

    kprobes_usable: bool


def is_noise(line: str) -> bool:
    """True for stderr lines known to be harmless on every run."""
    return any(marker in line for marker in _NOISE)


def keep_line(line: str) -> bool:
    """False for noise and for clang's diagnostics about an included file (they quote the file)."""
    return not is_noise(line) and _included_file(line) is None


def _included_file(line: str) -> tuple[str, str] | None:
    """(file, line) of a clang diagnostic about a file other than the program itself."""
    match = _CLANG.match(line.strip())
    if match is None or match["file"] in _PROGRAM_FILES:
        return None
    return match["file"], match["line"]


def parse_errors(stderr: Sequence[str], exit_code: int | None, host: HostFacts) -> list[TraceError]:
    """Structured errors from bpftrace's stderr; empty for a clean or signalled-to-stop run."""
    errors: list[TraceError] = []
    context: str | None = None
    hiding = False
    stderr = [line for line in stderr if not is_noise(line)]
    for raw in stderr:
        line = raw.rstrip()
        included = _included_file(line)
        if included is not None:
            context = f"the included file {included[0]} has an error at its line {included[1]}; its text is not shown"
            hiding = True
            continue
        located = _LOCATED.match(line)
        if hiding and not (located or _PLAIN.match(line) or _CODEGEN.match(line) or _CLANG.match(line.strip())):
            continue  # a line or a caret of the included file
        hiding = False
        if located:
            if located["level"] == "ERROR":
                col = located["col"]
                errors.append(_error(located["msg"], int(located["line"]), int(col) if col else None, host))
            continue
        codegen = _CODEGEN.match(line)
        if codegen:
            errors.append(_error(f"{codegen['probe']}: {codegen['msg']}", None, None, host))
            continue
        plain = _PLAIN.match(line)
        if plain:
            errors.append(_error(plain["msg"], None, None, host, detail=context))
            context = None
        elif line and not line.lstrip().startswith("~") and not line.startswith(("WARNING", "Attaching")):
            context = line.strip()
    if not errors and exit_code not in (None, 0) and exit_code > 0:
        last = next((line for line in reversed(stderr) if line.strip() and keep_line(line)), None)
        message = last.strip() if last else f"bpftrace exited with status {exit_code}"
        errors.append(_error(message, None, None, host))
    return errors


def parse_warnings(stderr: Sequence[str]) -> list[str]:
    """bpftrace's warnings, one line each, with the program line they are about."""
    warnings = []
    for raw in stderr:
        line = raw.rstrip()
        located = _LOCATED.match(line)
        if located and located["level"] == "WARNING":
            warnings.append(f"line {located['line']}: {located['msg']}")
        elif line.startswith("WARNING:"):
            warnings.append(line.removeprefix("WARNING:").strip())
    return warnings


def _error(
    message: str, line: int | None, col: int | None, host: HostFacts, detail: str | None = None
) -> TraceError:
    """Categorise on bpftrace's own message; the library line before it only adds detail."""
    category = _categorize(message)
    hint = _HINTS.get(category)
    kprobe = re.search(r"'?(k(?:ret)?probe:[^'\s)]+)", message)
    if category == "attach" and kprobe and not host.kprobes_usable:
        category = "unsupported_feature"
        hint = (
            f"{kprobe.group(1)} cannot attach: this kernel has no kprobes (no kprobe_events in tracefs). "
            "Use a tracepoint that covers the same event: list_probes with a filter such as "
            "'tracepoint:syscalls:*read*' finds them."
        )
    if detail:
        message = f"{message} ({detail})"
    transient = bool(_TRANSIENT.search(message))
    if transient:
        category, hint = "resource", "The host was busy; running the same program again after a pause may work."
    return TraceError(category=category, message=message, line=line, col=col, hint=hint, transient=transient)


def _categorize(message: str) -> ErrorCategory:
    for category, pattern in _CATEGORIES:
        if pattern.search(message):
            return category
    return "semantic"
