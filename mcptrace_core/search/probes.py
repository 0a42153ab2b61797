"""Probe specs as programs write them: aliases, families and wildcards.

Search needs to read the probes an example attaches (to say whether they exist here, to match a query
that names one, and to score the evaluation), whatever backend later runs the program.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mcptrace_core.program.probespec import expand_type

FAMILY = {"kretprobe": "kprobe", "uretprobe": "uprobe", "kretfunc": "kfunc"}
"""Probe types that share their entry probe's mechanism (and so its usability)."""
SPECIAL = {"BEGIN", "END"}


def expand(spec: str) -> str:
    """Write the probe type in full: ``t:sched:sched_switch`` -> ``tracepoint:sched:sched_switch``."""
    return expand_type(spec.strip())


def probe_type(spec: str) -> str:
    """The full probe type of a spec; ``BEGIN``/``END`` are their own type."""
    spec = expand(spec)
    if spec in SPECIAL:
        return "BEGIN/END"
    return spec.partition(":")[0]


def family(spec: str) -> str:
    """The spec with return probes counted as their entry probes: ``kretprobe:f`` -> ``kprobe:f``."""
    spec = expand(spec)
    kind, sep, rest = spec.partition(":")
    return f"{FAMILY.get(kind, kind)}{sep}{rest}"


def last_name(spec: str) -> str:
    """The function or event a spec names: ``tracepoint:sched:sched_switch`` -> ``sched_switch``."""
    return expand(spec).rsplit(":", 1)[-1]


def is_wildcard(spec: str) -> bool:
    return "*" in spec or "?" in spec or "[" in spec


@lru_cache(maxsize=512)
def wildcard_regex(spec: str) -> re.Pattern[str]:
    """bpftrace's glob: ``*`` any run of characters, ``?`` one, ``[..]`` a class; the rest is literal."""
    parts = []
    for piece in re.split(r"(\*|\?|\[[^\]]*\])", spec):
        if piece == "*":
            parts.append(".*")
        elif piece == "?":
            parts.append(".")
        elif piece.startswith("[") and piece.endswith("]"):
            parts.append(piece)
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))
