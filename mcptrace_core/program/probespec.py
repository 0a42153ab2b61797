"""Probe specs (attach points): their types, aliases, targets and rates, read from the text alone."""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE_TYPE_ALIASES = {
    "t": "tracepoint", "k": "kprobe", "kr": "kretprobe", "u": "uprobe", "ur": "uretprobe", "U": "usdt",
    "p": "profile", "i": "interval", "s": "software", "h": "hardware", "f": "kfunc", "fr": "kretfunc",
    "it": "iter", "w": "watchpoint", "aw": "asyncwatchpoint", "rt": "rawtracepoint",
    "fentry": "kfunc", "fexit": "kretfunc",
}
"""Short and newer names of probe types, mapped to the names bpftrace 0.17 uses."""

PROBE_TYPES = frozenset({
    "BEGIN", "END", "tracepoint", "rawtracepoint", "kprobe", "kretprobe", "kfunc", "kretfunc", "uprobe",
    "uretprobe", "usdt", "profile", "interval", "software", "hardware", "watchpoint", "asyncwatchpoint", "iter",
})
KERNEL_FUNCTION_TYPES = frozenset({"kprobe", "kretprobe", "kfunc", "kretfunc"})
USER_TYPES = frozenset({"uprobe", "uretprobe", "usdt"})
"""Probe types whose first segment names a binary or a library."""
PER_CPU_TYPES = frozenset({"profile", "software", "hardware"})
"""Probe types that fire on every CPU."""

_RATE_UNITS = {"hz": None, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def split_segments(text: str) -> list[str]:
    """``type:a:b`` split at the colons that are outside double quotes."""
    segments, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == ":" and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return segments


def canonical_type(word: str) -> str:
    """The probe type bpftrace knows a word as: aliases expanded, unknown words kept as written."""
    return PROBE_TYPE_ALIASES.get(word, word)


def expand_type(spec: str) -> str:
    """The spec with its probe type written in full (``t:sched:*`` -> ``tracepoint:sched:*``), the rest as it is."""
    kind, sep, rest = spec.partition(":")
    return f"{canonical_type(kind)}{sep}{rest}" if sep else spec


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One attach point of a probe, e.g. ``tracepoint:sched:sched_switch`` or ``uprobe:libssl:SSL_read``."""

    text: str
    """As written in the program."""
    type: str
    """The canonical probe type ('t' becomes 'tracepoint'); an unknown type is kept as written."""
    parts: tuple[str, ...]
    """The segments after the type in canonical form: quotes removed, surrounding whitespace stripped
    (``interval:"us":1`` and ``interval:us:1`` are the same probe, so rules must see the same parts)."""
    line: int = 1
    col: int = 1

    @classmethod
    def parse(cls, text: str, line: int = 1, col: int = 1) -> ProbeSpec:
        """``text`` as written; its type and parts in the one canonical form every rule judges."""
        kind, *parts = split_segments(text.strip())
        return cls(text.strip(), canonical_type(normal_segment(kind)), tuple(map(normal_segment, parts)), line, col)

    @property
    def canonical(self) -> str:
        """The spec with its type's full name, the form ``bpftrace -l`` prints."""
        return ":".join((self.type, *self.parts))

    @property
    def known_type(self) -> bool:
        return self.type in PROBE_TYPES

    @property
    def is_wildcard(self) -> bool:
        return any("*" in part or "?" in part for part in self.parts)

    @property
    def target(self) -> str | None:
        """The binary or library of a uprobe, uretprobe or usdt probe (a path or a short library name)."""
        if self.type in USER_TYPES and self.parts:
            return self.parts[0]
        return None

    @property
    def function(self) -> str | None:
        """The function (or event) name: the last segment of kernel- and user-function probes and tracepoints."""
        if self.type in KERNEL_FUNCTION_TYPES | USER_TYPES | {"tracepoint", "rawtracepoint"} and self.parts:
            return self.parts[-1].split("+", 1)[0]
        return None

    def frequency_hz(self) -> float | None:
        """How often a profile or interval probe fires (per CPU for profile), from its unit and value;
        None when the spelling does not say (``rate_known`` tells that apart from a non-timed probe)."""
        if self.type not in ("profile", "interval"):
            return None
        rate = _rate(self.parts)
        if rate is None:
            return None
        unit, value = rate
        seconds = _RATE_UNITS[unit]
        return float(value) if seconds is None else 1.0 / (value * seconds)

    @property
    def rate_known(self) -> bool:
        """False for a profile or interval probe whose rate cannot be read: rules treat it as unbounded."""
        return self.type not in ("profile", "interval") or self.frequency_hz() is not None

    def event_period(self) -> int | None:
        """The sample period of a software or hardware event: one sample every N events (None: default)."""
        if self.type not in ("software", "hardware") or len(self.parts) < 2:
            return None
        return _number(self.parts[1])


def normal_segment(segment: str) -> str:
    """A spec segment as bpftrace reads it: double quotes only group (``"us"`` is ``us``), whitespace around
    it does not count."""
    return segment.replace('"', "").strip() if '"' in segment else segment.strip()


_RATE_IN_ONE = re.compile(r"^(?P<value>[0-9][0-9_.xXa-fA-F]*)(?P<unit>hz|s|ms|us|ns)$")


def _rate(parts: tuple[str, ...]) -> tuple[str, int] | None:
    """(unit, positive value) of a timed probe: ``hz:99``, or ``99hz`` / ``1ms`` in one segment."""
    if len(parts) >= 2:
        unit, value = parts[0], _number(parts[1])
    elif len(parts) == 1 and (match := _RATE_IN_ONE.match(parts[0])):
        unit, value = match["unit"], _number(match["value"])
    else:
        return None
    if unit not in _RATE_UNITS or value is None or value <= 0:
        return None
    return unit, value


def _number(text: str) -> int | None:
    text = text.strip().replace("_", "")
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(float(text))
        except (ValueError, OverflowError):
            return None
