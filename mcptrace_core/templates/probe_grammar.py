"""The probe patterns a template parameter may hold: a small grammar, checked before anything is rendered.

A pattern is ``type:part[:part...]``; the type (or its alias) must be a known probe type, the number of
parts must fit that type, and each part may hold only characters that mean a name, a path or a
wildcard. Braces, commas, quotes, slashes outside a path, spaces and anything else that could end
the probe list and start code are refused, so a pattern always renders as exactly one probe spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcptrace_core.program.probespec import canonical_type

_NAME = r"[A-Za-z0-9_.*?\-]+"
_PATH = r"[A-Za-z0-9_./*?+@\-]+"
_RATE = r"(?:hz|s|ms|us):\d{1,9}"


@dataclass(frozen=True)
class ProbeShape:
    """The parts after the type: a regex over them and how to describe it."""

    parts: re.Pattern[str]
    example: str


SHAPES: dict[str, ProbeShape] = {
    "tracepoint": ProbeShape(re.compile(rf"{_NAME}:{_NAME}"), "tracepoint:syscalls:sys_enter_open*"),
    "rawtracepoint": ProbeShape(re.compile(rf"(?:{_NAME}:)?{_NAME}"), "rawtracepoint:sched_switch"),
    "kprobe": ProbeShape(re.compile(rf"(?:{_NAME}:)?{_NAME}"), "kprobe:vfs_read*"),
    "kretprobe": ProbeShape(re.compile(rf"(?:{_NAME}:)?{_NAME}"), "kretprobe:vfs_read"),
    "kfunc": ProbeShape(re.compile(rf"(?:{_NAME}:)?{_NAME}"), "kfunc:vfs_read"),
    "kretfunc": ProbeShape(re.compile(rf"(?:{_NAME}:)?{_NAME}"), "kretfunc:vfs_read"),
    "uprobe": ProbeShape(re.compile(rf"{_PATH}:{_NAME}"), "uprobe:/usr/bin/bash:readline"),
    "uretprobe": ProbeShape(re.compile(rf"{_PATH}:{_NAME}"), "uretprobe:/usr/bin/bash:readline"),
    "usdt": ProbeShape(re.compile(rf"{_PATH}(?::{_NAME}){{1,2}}"), "usdt:/usr/bin/python3:python:function__entry"),
    "software": ProbeShape(re.compile(rf"{_NAME}(?::\d{{1,12}})?"), "software:page-faults:100"),
    "hardware": ProbeShape(re.compile(rf"{_NAME}(?::\d{{1,12}})?"), "hardware:cache-misses:1000000"),
    "profile": ProbeShape(re.compile(_RATE), "profile:hz:99"),
    "interval": ProbeShape(re.compile(_RATE), "interval:s:1"),
}


def parse_probe(pattern: str, allowed_types: list[str] | None = None) -> str:
    """The pattern with its type alias expanded; ValueError saying what is allowed when it does not fit."""
    text = pattern.strip()
    probe_type, separator, rest = text.partition(":")
    if not separator:
        raise ValueError(f"{pattern!r} has no probe type: write TYPE:..., e.g. {SHAPES['tracepoint'].example}")
    probe_type = canonical_type(probe_type)
    allowed = allowed_types or list(SHAPES)
    if probe_type not in allowed:
        raise ValueError(f"probe type {probe_type!r} is not allowed here; allowed: {', '.join(allowed)}")
    shape = SHAPES[probe_type]
    if not shape.parts.fullmatch(rest):
        raise ValueError(
            f"{pattern!r} is not a {probe_type} probe: names may hold letters, digits, '_', '.', '-' and the "
            f"wildcards '*' and '?', paths also '/', '+' and '@'; e.g. {shape.example}"
        )
    return f"{probe_type}:{rest}"
