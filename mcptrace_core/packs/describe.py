"""Describe a bare bpftrace program the way a pack file would: its probes, requirements, output and area.

Programs that arrive without metadata (the host's *.bt tools, GPTtrace imports) are given the fields
an example needs from what the program itself shows. The guesses are deliberately simple and
conservative; a hand-written example always says better.
"""

from __future__ import annotations

import re

from mcptrace_core.packs.probespec import expand_alias, full_type, probe_specs, requirement

_STRUCT_CAST = re.compile(r"\(\s*(?:const\s+)?(?:struct|union)\s+\w+\s*\*")
_KERNEL_INCLUDE = re.compile(r"^\s*#include\s*<(?:linux|net|uapi|asm)/", re.M)
_CURTASK_FIELD = re.compile(r"\bcurtask\s*->")
_PRINTF = re.compile(r"\bprintf\s*\(")
_AGGREGATIONS = (
    ("hist", re.compile(r"\bl?hist\s*\(")),
    ("stats", re.compile(r"\b(?:stats|avg)\s*\(")),
    ("map", re.compile(r"\b(?:count|sum|min|max)\s*\(")),
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


def requirements(program: str, probes: list[str]) -> list[str]:
    """The ``requires`` of a program: its probe types, plus btf/kernel_headers when it reads kernel types."""
    needed = [r for r in (requirement(spec) for spec in probes) if r]
    if _KERNEL_INCLUDE.search(program):
        needed.append("kernel_headers")
    elif _STRUCT_CAST.search(program) or _CURTASK_FIELD.search(program):
        needed.append("btf")
    return list(dict.fromkeys(needed))


def guess_output(program: str) -> str:
    """events, hist, stats, map or mixed, from the builtins the program calls."""
    prints = bool(_PRINTF.search(program))
    kinds = {kind for kind, pattern in _AGGREGATIONS if pattern.search(program)}
    if not kinds:
        return "events" if prints else "map"
    if prints or len(kinds) > 1:
        return "mixed"
    return kinds.pop()


def guess_category(probes: list[str], default: str) -> str:
    """The area of the first probe that says something about it, else ``default``."""
    for spec in probes:
        kind = full_type(spec)
        parts = expand_alias(spec).split(":")
        if kind == "tracepoint" and len(parts) > 2 and parts[1] in _TRACEPOINT_AREAS:
            return _TRACEPOINT_AREAS[parts[1]]
        if kind in ("kprobe", "kretprobe", "kfunc", "kretfunc") and len(parts) > 1:
            function = parts[-1]
            for prefix, area in _FUNCTION_AREAS:
                if function.startswith(prefix):
                    return area
        if kind in _PROBE_TYPE_AREAS:
            return _PROBE_TYPE_AREAS[kind]
    return default


def guess_complexity(program: str) -> str:
    lines = [line for line in program.splitlines() if line.strip()]
    return "basic" if len(lines) <= 25 else "intermediate" if len(lines) <= 60 else "advanced"


def describe_program(program: str, default_category: str) -> dict[str, object]:
    """The example fields that follow from the program alone (probes may be empty for a bad program)."""
    probes = probe_specs(program)
    return {
        "probes": probes,
        "requires": requirements(program, probes),
        "output": guess_output(program),
        "category": guess_category(probes, default_category),
        "complexity": guess_complexity(program),
    }
