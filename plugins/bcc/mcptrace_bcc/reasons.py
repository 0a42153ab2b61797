"""Turn what a trial saw into a verdict a person can act on: usable, or why not and what would fix it.

The patterns are the messages libbpf, the libbpf tools and BCC's Python library print when a tool
cannot run; the first that matches names the missing feature.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mcptrace_bcc.probe import TrialOutcome
from mcptrace_bcc.schema import Usability


@dataclass(frozen=True)
class _Rule:
    needs: str
    pattern: re.Pattern[str]
    reason: str
    """May use the pattern's named groups."""
    fix: str | None


_HEADERS_FIX = (
    "install the headers of the running kernel (Debian/Ubuntu: apt-get install linux-headers-$(uname -r)) "
    "or boot a kernel built with CONFIG_IKHEADERS; the libbpf tool of the same name, where there is one, "
    "needs no headers"
)
_KPROBES_FIX = (
    "boot a kernel built with CONFIG_KPROBES=y (and mount tracefs); a tracepoint-based tool may cover the same events"
)

_RULES = [
    _Rule("kernel_headers", re.compile(r"Unable to find kernel headers|chdir\(/lib/modules/[^)]*/build\)|"
                                       r"kernel-headers|linux-headers", re.I),
          "needs the running kernel's headers, which are not installed (BCC compiles its BPF program at run time)",
          _HEADERS_FIX),
    _Rule("kprobes", re.compile(r"legacy kprobe event|failed to create kprobe|kprobe_events|cannot attach kprobe|"
                                r"Failed to attach BPF program \S+ to kprobe|kprobes/blacklist", re.I),
          "needs kprobes, which this kernel lacks (no kprobe_events: CONFIG_KPROBES is off)", _KPROBES_FIX),
    _Rule("kernel_function", re.compile(r"failed to find kernel BTF type ID of '(?P<function>[^']+)'"),
          "traces the kernel function {function}, which this kernel does not have (not in its BTF)",
          "none on this kernel: the tool targets kernels that have that function (or the module defining it)"),
    _Rule("fentry", re.compile(r"failed to set attach target for (?P<function>[\w.]+)|fentry|fexit|attach_btf", re.I),
          "needs fentry/fexit on {function}, which this kernel cannot attach",
          "boot a kernel with BPF trampolines (CONFIG_DEBUG_INFO_BTF, x86_64/arm64) that has that function"),
    _Rule("kernel_struct", re.compile(r"failed to resolve CO-RE relocation .*?(?P<field>struct \w+\.\w+)"),
          "its BPF code reads {field}, which this kernel's structures do not have",
          "a libbpf-tools build that matches this kernel version"),
    _Rule("btf", re.compile(r"/sys/kernel/btf/vmlinux|vmlinux BTF|kernel BTF is (not|un)available", re.I),
          "needs kernel BTF (/sys/kernel/btf/vmlinux)", "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
    _Rule("perf_hardware", re.compile(r"perf sampling|PERF_COUNT_HW|hardware (perf )?event", re.I),
          "needs hardware performance counters, which are not available here (usual in virtual machines)",
          "run on bare metal, or a VM that exposes its PMU"),
    _Rule("cpufreq", re.compile(r"/cpufreq/"), "needs CPU frequency scaling information (cpufreq) in sysfs",
          "a host with cpufreq drivers (not usual in virtual machines)"),
    _Rule("permission", re.compile(r"must be run as root|need(s)? root|Permission denied|EACCES", re.I),
          "needs more privilege than it was started with", "run mcptrace as root or set privilege.prefix"),
    _Rule("kprobes", re.compile(r"BPF program load failed: Operation not permitted"),
          "the kernel refused to load its BPF program (EPERM); on a kernel without kprobes that is a kprobe "
          "program it cannot host", _KPROBES_FIX),
    _Rule("verifier", re.compile(r"BPF program load failed: (Invalid argument|Argument list too long)|verifier", re.I),
          "the kernel's verifier rejected its BPF program (written for other kernel versions)",
          "a libbpf-tools build that matches this kernel version"),
    _Rule("terminal", re.compile(r"_curses\.error|curses"),
          "draws a full-screen terminal interface (curses), which cannot run without a terminal",
          "run it yourself in a terminal"),
    _Rule("kernel_config", re.compile(r"CONFIG_[A-Z0-9_]+"),
          "the kernel lacks a feature it needs: {first_line}", "a kernel built with the configuration it names"),
    _Rule("python_bcc", re.compile(r"No module named '?bcc|ModuleNotFoundError", re.I),
          "the BCC Python library is missing", "apt-get install -y python3-bpfcc"),
    _Rule("arguments", re.compile(r"^usage:|^Usage:|^USAGE:|must be specified|Need a|required|[Pp]lease specify|"
                                  r"Try `\S+ --help'", re.M),
          "needs arguments before it can be tried ({first_line}); it is tried when it is run", None),
]


def classify(outcome: TrialOutcome) -> Usability:
    """The usability of a tool from its trial.

    A tool that kept running may still have failed while it was being stopped (a Python tool that
    printed its header before compiling), so its diagnostics are read too.
    """
    if outcome.attached:  # its stdout is trace events, which may say anything: only stderr counts
        problem = _match(outcome.stderr)
        if problem is None or problem[0].needs == "arguments":
            how = "printed its first output" if outcome.printed else "was still running"
            return Usability(usable=True, reason=f"attached: {how} {outcome.seconds:g} s after start")
    said = [*outcome.stderr, *outcome.output]
    cause = diagnose(said)
    if cause is not None:
        return cause
    if outcome.exit_code == 0 and not _COMPLAINT.search("\n".join(said)):
        return Usability(usable=True, reason="ran to completion during its trial (it is not a long-running tracer)")
    return Usability(
        usable=False, reason=f"exited at once: {_summary(said) or f'status {outcome.exit_code}'}", needs="unknown"
    )


def diagnose(said: Sequence[str]) -> Usability | None:
    """What a failed run's diagnostics mean, when they match a known cause."""
    problem = _match(said)
    if problem is None:
        return None
    rule, groups = problem
    reason = rule.reason.format_map(_Defaults(groups, first_line=_summary(said) or "?"))
    return Usability(usable=None if rule.needs == "arguments" else False, reason=reason, needs=rule.needs, fix=rule.fix)


_COMPLAINT = re.compile(r"error|fail|cannot|can't|unable|not (available|supported|found)|exception", re.I)


def _match(said: Sequence[str]) -> tuple[_Rule, dict[str, str]] | None:
    text = "\n".join(said)
    for rule in _RULES:
        found = rule.pattern.search(text)
        if found:
            return rule, {key: value for key, value in found.groupdict().items() if value}
    return None


def _summary(said: Sequence[str]) -> str | None:
    """The line that says what went wrong: a Python traceback's last line, else the first real line."""
    lines = [line.strip() for line in said if line.strip()]
    if any(line.startswith("Traceback") for line in lines):
        lines = [lines[-1]] if lines else []
    for line in lines:
        if not line.startswith(("File ", "sh: 1: modprobe")):
            return line[:200]
    return None


class _Defaults(dict[str, str]):
    """Format values; a placeholder whose group did not match reads as 'a kernel function'."""

    def __init__(self, groups: dict[str, str], **extra: str) -> None:
        super().__init__(groups, **extra)

    def __missing__(self, key: str) -> str:
        return {"function": "a kernel function", "field": "a kernel structure field"}.get(key, "?")
