"""Policy limits handed to bpftrace through its BPFTRACE_* environment variables.

Policies name limits as bpftrace 0.17 does (BPFTRACE_MAP_KEYS_MAX, BPFTRACE_STRLEN, ...) or by the
newer names; each run gets the name its bpftrace reads (``Features.limit_names``), so newer builds do
not print a deprecation warning on every run.
"""

from __future__ import annotations

from collections.abc import Mapping

from mcptrace_bpftrace.features import OLDEST, STACK_STRLEN_MAX, Features, canonical_limit

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
MAX_STRLEN = STACK_STRLEN_MAX


class LimitError(ValueError):
    """A policy limit bpftrace cannot take; the message names it and what is allowed."""


def limits_env(limits: Mapping[str, int], features: Features | None = None) -> dict[str, str]:
    """The BPFTRACE_* variables for a run, named as ``features``' bpftrace reads them (0.17's names
    when None); limits meant for other backends are left out."""
    features = features or OLDEST
    env = {}
    for given, value in limits.items():
        if not given.startswith("BPFTRACE_"):
            continue
        name = canonical_limit(given)
        if name not in KNOWN_LIMITS:
            raise LimitError(f"policy limit {given} is not a bpftrace limit; known: {', '.join(sorted(KNOWN_LIMITS))}")
        strlen_max = features.strlen_max
        if name == "BPFTRACE_STRLEN" and strlen_max is not None and value > strlen_max:
            raise LimitError(f"policy limit {given}={value} is over this bpftrace's maximum of {strlen_max} "
                             "(str() lives on the 512-byte BPF stack before bpftrace 0.20)")
        if name == "BPFTRACE_PERF_RB_PAGES" and value & (value - 1):
            raise LimitError(f"policy limit BPFTRACE_PERF_RB_PAGES={value} must be a power of two")
        env[features.env_name(name)] = str(value)
    return env
