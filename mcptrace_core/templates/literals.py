"""Turning values into bpftrace source text that cannot change a program's structure, and back from units.

Every string a caller gives ends up in a program as a double-quoted literal in which only printable
ASCII other than the quote and the backslash appears as itself; everything else (quotes, backslashes,
control characters, every byte of a non-ASCII character) is an escape. bpftrace 0.17 reads ``\\"``,
``\\\\`` and three-digit octal escapes, so the literal always ends where it should.
"""

from __future__ import annotations

import re

_PLAIN = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def string_literal(text: str) -> str:
    """``text`` as a bpftrace string literal, quoted and escaped byte by byte (UTF-8)."""
    parts = ['"']
    for byte in text.encode("utf-8"):
        if byte in _PLAIN:
            parts.append(chr(byte))
        elif byte in (ord('"'), ord("\\")):
            parts.append("\\" + chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    parts.append('"')
    return "".join(parts)


TIME_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_TIME = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ns|us|µs|ms|s|sec|m|min|h)?\s*$", re.I)
_UNIT_SPELLINGS = {"µs": "us", "sec": "s", "min": "m"}


def parse_time_ns(value: int | str, bare_unit: str) -> int:
    """Nanoseconds in ``value``: '10ms', '1.5s', '250us', or a bare number meaning ``bare_unit``."""
    if isinstance(value, int):
        return value * TIME_UNITS_NS[bare_unit]
    match = _TIME.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time: write a number and a unit, e.g. '10ms', '250us', '2s'")
    unit = match["unit"].lower() if match["unit"] else bare_unit
    unit = _UNIT_SPELLINGS.get(unit, unit)
    nanoseconds = float(match["number"]) * TIME_UNITS_NS[unit]
    if nanoseconds != int(nanoseconds):
        raise ValueError(f"{value!r} is finer than a nanosecond")
    return int(nanoseconds)


def format_time_ns(nanoseconds: int) -> str:
    """The shortest exact spelling: 10_000_000 -> '10ms', 1_500_000 -> '1500us', 0 -> '0ns'."""
    if nanoseconds == 0:
        return "0ns"
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        factor = TIME_UNITS_NS[unit]
        if nanoseconds % factor == 0:
            return f"{nanoseconds // factor}{unit}"
    raise AssertionError("unreachable: every integer is a whole number of nanoseconds")


SIZE_UNITS: dict[str, int] = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(?P<number>\d+)\s*(?P<unit>[kmgt]?)(?:i?b)?\s*$", re.I)


def parse_size(value: int | str) -> int:
    """Bytes in ``value``: 4096, '4k', '16KiB', '1M', '2G' (multiples of 1024)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size: write bytes or a number with k, M, G or T, e.g. '64k'")
    return int(match["number"]) * SIZE_UNITS[match["unit"].lower()]
