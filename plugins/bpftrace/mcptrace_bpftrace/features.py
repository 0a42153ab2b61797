"""What one bpftrace build offers, read from its own ``--help`` (and its version where help says nothing).

bpftrace changed its options and environment between releases: 0.17's ``-d`` checks a program and
stops before attaching, while 0.23's ``-d`` takes a debug stage and runs the program, and its
``--dry-run`` attaches every probe and loads every program (38 s for 360 tracepoints). Limit variables
were renamed (``BPFTRACE_MAP_KEYS_MAX`` became ``BPFTRACE_MAX_MAP_KEYS``; the old name still works but
warns on every run). docs/bpftrace-versions.md lists what was measured on each version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

RENAMED_LIMITS = {
    "BPFTRACE_MAP_KEYS_MAX": "BPFTRACE_MAX_MAP_KEYS",
    "BPFTRACE_STRLEN": "BPFTRACE_MAX_STRLEN",
    "BPFTRACE_CAT_BYTES_MAX": "BPFTRACE_MAX_CAT_BYTES",
}
"""mcptrace's (and policies') name of a limit -> the name newer bpftrace builds read."""

STACK_STRLEN_MAX = 200
"""Builds that keep str() on the 512-byte BPF stack refuse BPFTRACE_STRLEN above 200."""

_ENV_NAME = re.compile(r"^\s*(BPFTRACE_[A-Z0-9_]+)\s", re.M)
_STAGED_DEBUG = re.compile(r"^\s*-d STAGE\b", re.M)


@dataclass(frozen=True)
class Features:
    """The options and limit variables of one bpftrace build."""

    check_flags: tuple[str, ...]
    """How to compile a program without attaching anything (the cheapest truthful check)."""
    limit_names: Mapping[str, str] = field(default_factory=dict)
    """A limit's canonical name -> the environment variable this build reads for it."""
    strlen_max: int | None = STACK_STRLEN_MAX
    """The largest BPFTRACE_STRLEN this build accepts (None: no fixed ceiling)."""

    def env_name(self, limit: str) -> str:
        return self.limit_names.get(limit, limit)


OLDEST = Features(check_flags=("-d",))
"""What is assumed of a bpftrace that cannot be asked (0.17's option and limit names): its checks and runs
fail with their own error anyway; the names only have to be ones some supported build reads."""


def canonical_limit(name: str) -> str:
    """A policy may use either spelling; mcptrace keys limits by the older one."""
    for old, new in RENAMED_LIMITS.items():
        if name == new:
            return old
    return name


def features_from_help(help_text: str, version: tuple[int, int, int]) -> Features:
    """Read a build's features off its ``--help``; the version decides what help does not say."""
    documented = set(_ENV_NAME.findall(help_text))
    staged_debug = bool(_STAGED_DEBUG.search(help_text)) or (not help_text and version >= (0, 21, 0))
    if staged_debug:
        # -d runs the program and --dry-run attaches it; --emit-elf parses, type-checks and generates
        # the BPF code, writes it out and stops there: nothing is loaded or attached.
        check_flags: tuple[str, ...] = ("--emit-elf", "/dev/null")
    else:
        check_flags = ("-d",)  # 0.17-0.20: -d prints AST and IR and stops before attaching
    limit_names = {old: new for old, new in RENAMED_LIMITS.items() if new in documented}
    renamed_strlen = "BPFTRACE_STRLEN" in limit_names
    return Features(
        check_flags=check_flags,
        limit_names=limit_names,
        strlen_max=None if renamed_strlen else STACK_STRLEN_MAX,
    )
