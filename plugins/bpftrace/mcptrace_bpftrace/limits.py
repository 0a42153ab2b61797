"""Policy limits handed to bpftrace through its BPFTRACE_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping

KNOWN_LIMITS = {
    "BPFTRACE_MAP_KEYS_MAX": "keys per map (extra keys are silently dropped)",
    "BPFTRACE_STRLEN": "bytes per str() on the 512-byte BPF stack (at most 200)",
    "BPFTRACE_MAX_PROBES": "probes one program may attach (checked at attach)",
    "BPFTRACE_MAX_BPF_PROGS": "BPF programs one program may load",
    "BPFTRACE_PERF_RB_PAGES": "ring buffer pages per CPU (a power of two)",
    "BPFTRACE_LOG_SIZE": "bytes of verifier log",
    "BPFTRACE_NODE_MAX": "AST nodes per program",
    "BPFTRACE_CAT_BYTES_MAX": "bytes cat() reads from a file",
}
MAX_STRLEN = 200


class LimitError(ValueError):
    """A policy limit bpftrace cannot take; the message names it and what is allowed."""


def limits_env(limits: Mapping[str, int]) -> dict[str, str]:
    """The BPFTRACE_* variables for a run; limits meant for other backends are left out."""
    env = {}
    for name, value in limits.items():
        if not name.startswith("BPFTRACE_"):
            continue
        if name not in KNOWN_LIMITS:
            raise LimitError(f"policy limit {name} is not a bpftrace limit; known: {', '.join(sorted(KNOWN_LIMITS))}")
        if name == "BPFTRACE_STRLEN" and value > MAX_STRLEN:
            raise LimitError(f"policy limit BPFTRACE_STRLEN={value} is over bpftrace's maximum of {MAX_STRLEN}")
        if name == "BPFTRACE_PERF_RB_PAGES" and value & (value - 1):
            raise LimitError(f"policy limit BPFTRACE_PERF_RB_PAGES={value} must be a power of two")
        env[name] = str(value)
    return env
