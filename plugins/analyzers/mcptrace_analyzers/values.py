"""Read the pieces of bpftrace's text output: map values and histogram bucket bounds."""

from __future__ import annotations

import math
import re

from mcptrace_core.analysis import StatsValue

SUFFIX_SCALE = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
STATS_TEXT = re.compile(r"count (-?\d+), average (-?\d+(?:\.\d+)?), total (-?\d+(?:\.\d+)?)\Z")
TupleItem = int | float | str


def bound(text: str) -> float | None:
    """A bucket bound as bpftrace prints it: '512', '2K' (x1024), '-10'; '...' (open end) is None."""
    if text == "...":
        return None
    scale = SUFFIX_SCALE.get(text[-1])
    return float(int(text[:-1]) * scale) if scale else float(int(text))


def number(text: str) -> int | float | None:
    """The number ``text`` spells, or None."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def map_value(text: str) -> tuple[str, int | float | str | list[TupleItem] | StatsValue]:
    """The value of a ``@map[key]: value`` line: ('value', number|string|tuple) or ('stats', StatsValue)."""
    value = number(text)
    if value is not None:
        return "value", value
    if text.startswith("count "):
        match = STATS_TEXT.match(text)
        if match:
            count, average, total = (number(group) for group in match.groups())
            return "stats", StatsValue(int(count or 0), average, total)
    if len(text) > 1 and text[0] == "(" and text[-1] == ")":
        parts = text[1:-1].split(", ")
        return "value", [value if (value := number(part)) is not None else part for part in parts]
    return "value", text
