"""Describe a bare bpftrace program the way a pack file would: its probes, requirements, output and area.

Programs that arrive without metadata (the host's *.bt tools, GPTtrace imports) are given the fields
an example needs from what the program itself shows, read through the program model (the same parser
validation uses), so a word in a comment or a string is never taken for a probe or a call. The
guesses are deliberately simple and conservative; a hand-written example always says better.
"""

from __future__ import annotations

import re

from mcptrace_core.program import ir
from mcptrace_core.program.parser import parse_program
from mcptrace_core.program.probespec import PROBE_TYPES, ProbeSpec

REQUIREMENT_OF_TYPE = {
    "tracepoint": "tracepoint",
    "kprobe": "kprobe",
    "kretprobe": "kretprobe",
    "uprobe": "uprobe",
    "uretprobe": "uretprobe",
    "usdt": "usdt",
    "profile": "profile",
    "interval": "interval",
    "software": "software",
    "hardware": "hardware",
    "kfunc": "kfunc",
    "kretfunc": "kfunc",
    "iter": "iter",
    "watchpoint": "watchpoint",
    "asyncwatchpoint": "watchpoint",
}
"""The ``requires`` entry each probe type needs; BEGIN and END need nothing."""
SPECIAL_PROBES = ("BEGIN", "END")

_KERNEL_INCLUDE = re.compile(r"^#include\s*<(?:linux|net|uapi|asm)/")
_KERNEL_TYPE_CAST = re.compile(r"^(?:const )?(?:struct|union) \w+ ?\*")
_AGGREGATIONS = (
    ("hist", frozenset({"hist", "lhist"})),
    ("stats", frozenset({"stats", "avg"})),
    ("map", frozenset({"count", "sum", "min", "max"})),
)


class UnknownProbeType(ValueError):
    """A probe spec names a probe type that bpftrace does not have (or examples cannot declare)."""


def requirement(spec: ProbeSpec) -> str | None:
    """What a probe spec needs in ``requires``; None for BEGIN/END. Raises UnknownProbeType."""
    if spec.type in SPECIAL_PROBES:
        return None
    if spec.type in REQUIREMENT_OF_TYPE:
        return REQUIREMENT_OF_TYPE[spec.type]
    if not spec.known_type:
        known = ", ".join(sorted(PROBE_TYPES))
        raise UnknownProbeType(f"unknown probe type {spec.type!r} in {spec.text!r} (known: {known})")
    raise UnknownProbeType(
        f"probe type {spec.type!r} in {spec.text!r} cannot be declared in an example's requires "
        f"(examples may use: {', '.join(sorted(REQUIREMENT_OF_TYPE))}, BEGIN, END)"
    )


# tracepoint subsystem -> category used by the core pack
_TRACEPOINT_AREAS = {
    "sched": "scheduler",
    "syscalls": "syscalls",
    "raw_syscalls": "syscalls",
    "block": "block",
    "tcp": "network",
    "sock": "network",
    "net": "network",
    "skb": "network",
    "udp": "network",
    "napi": "network",
    "kmem": "memory",
    "vmscan": "memory",
    "oom": "memory",
    "compaction": "memory",
    "exceptions": "memory",
    "irq": "interrupts",
    "timer": "timers",
    "workqueue": "timers",
    "signal": "ipc",
    "cgroup": "containers",
    "capability": "security",
    "module": "security",
    "ext4": "filesystems",
    "xfs": "filesystems",
    "btrfs": "filesystems",
    "jbd2": "filesystems",
    "writeback": "filesystems",
    "kvm": "kvm",
    "io_uring": "io_uring",
    "task": "process",
}
# kernel function prefix -> category, for kprobe/kfunc programs
_FUNCTION_AREAS = (
    ("vfs_", "files"),
    ("tcp_", "network"),
    ("udp_", "network"),
    ("inet_", "network"),
    ("sock_", "network"),
    ("blk_", "block"),
    ("ext4_", "filesystems"),
    ("xfs_", "filesystems"),
    ("btrfs_", "filesystems"),
    ("swap", "memory"),
    ("oom_", "memory"),
    ("do_sys_open", "files"),
    ("lookup_fast", "files"),
    ("d_lookup", "files"),
    ("security_", "security"),
    ("cap_", "security"),
    ("schedule", "scheduler"),
)
_PROBE_TYPE_AREAS = {
    "profile": "cpu",
    "software": "cpu",
    "hardware": "cpu",
    "uprobe": "userspace",
    "uretprobe": "userspace",
    "usdt": "userspace",
}


def requirements(program: ir.Program, specs: list[ProbeSpec]) -> list[str]:
    """The ``requires`` of a program: its probe types, plus btf/kernel_headers when it reads kernel types."""
    needed = [r for r in (requirement(spec) for spec in specs) if r]
    if any(_KERNEL_INCLUDE.match(directive.text) for directive in program.directives):
        needed.append("kernel_headers")
    elif any(_reads_kernel_types(node) for node in ir.walk(program)):
        needed.append("btf")
    return list(dict.fromkeys(needed))


def _reads_kernel_types(node: ir.Node) -> bool:
    """A cast to a kernel struct pointer, or a field of the current task: both need the kernel's types."""
    if isinstance(node, ir.Cast):
        return bool(_KERNEL_TYPE_CAST.match(node.type))
    return isinstance(node, ir.Field) and isinstance(node.target, ir.Identifier) and node.target.name == "curtask"


def guess_output(program: ir.Program) -> str:
    """events, hist, stats, map or mixed, from the builtins the program calls."""
    called = {call.name for call in program.calls()}
    prints = "printf" in called
    kinds = {kind for kind, functions in _AGGREGATIONS if called & functions}
    if not kinds:
        return "events" if prints else "map"
    if prints or len(kinds) > 1:
        return "mixed"
    return kinds.pop()


def guess_category(specs: list[ProbeSpec], default: str) -> str:
    """The area of the first probe that says something about it, else ``default``."""
    for spec in specs:
        if spec.type == "tracepoint" and len(spec.parts) > 1 and spec.parts[0] in _TRACEPOINT_AREAS:
            return _TRACEPOINT_AREAS[spec.parts[0]]
        if spec.type in ("kprobe", "kretprobe", "kfunc", "kretfunc") and spec.parts:
            for prefix, area in _FUNCTION_AREAS:
                if spec.parts[-1].startswith(prefix):
                    return area
        if spec.type in _PROBE_TYPE_AREAS:
            return _PROBE_TYPE_AREAS[spec.type]
    return default


def guess_complexity(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return "basic" if len(lines) <= 25 else "intermediate" if len(lines) <= 60 else "advanced"


def describe_program(source: str, default_category: str) -> dict[str, object]:
    """The example fields that follow from the program alone.

    Raises ValueError naming the line and column when the program is not bpftrace (ProgramSyntaxError),
    or UnknownProbeType.
    """
    from mcptrace_core.program.memo import remembered

    def describe() -> dict[str, object]:
        program = parse_program(source)
        specs = program.attach_points
        return {
            "probes": [spec.text for spec in specs],
            "requires": requirements(program, specs),
            "output": guess_output(program),
            "category": guess_category(specs, default_category),
            "complexity": guess_complexity(source),
        }

    return dict(remembered(f"describe/{default_category}", source, describe))
