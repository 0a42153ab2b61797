"""Units and roles inferred from names: '@usecs', 'lat_ns', 'TIME (us)', 'TOTAL_usecs', 'TX_KB', 'PID'.

Trace tools name their quantities after their units; reading them back lets the analysis say
"p99 = 2.1 ms" instead of "p99 = 2100", and tells a latency column from a process id.
"""

from __future__ import annotations

import re

UNIT_WORDS = {
    "ns": "ns",
    "nsec": "ns",
    "nsecs": "ns",
    "nanoseconds": "ns",
    "us": "us",
    "usec": "us",
    "usecs": "us",
    "µs": "us",
    "microseconds": "us",
    "ms": "ms",
    "msec": "ms",
    "msecs": "ms",
    "milliseconds": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "bytes": "bytes",
    "byte": "bytes",
    "b": "bytes",
    "kb": "KB",
    "kbytes": "KB",
    "kib": "KB",
    "mb": "MB",
    "mbytes": "MB",
    "mib": "MB",
}
DURATION_UNITS = frozenset({"ns", "us", "ms", "s"})
SIZE_UNITS = frozenset({"bytes", "KB", "MB"})
ID_WORDS = frozenset(
    {
        "pid",
        "tid",
        "ppid",
        "tgid",
        "uid",
        "gid",
        "cpu",
        "fd",
        "port",
        "lport",
        "rport",
        "dport",
        "sport",
        "id",
        "inode",
        "ino",
        "dev",
        "irq",
        "sig",
        "cap",
        "major",
        "minor",
        "audit",
        "flags",
        "mode",
        "vec",
    }
)
ERROR_WORDS = frozenset({"err", "errno", "ret", "retval", "rc", "exit_code", "error"})
TIMESTAMP_WORDS = frozenset({"time", "timestamp", "ts", "date", "when"})
DURATION_WORDS = frozenset({"lat", "latency", "duration", "delta", "age", "elapsed", "wait", "runtime"})
SIZE_WORDS = frozenset({"size", "len", "length", "bytes", "io_size"})
COUNT_WORDS = frozenset({"count", "calls", "num", "total", "events"})
_WORD = re.compile(r"[a-zµ0-9]+")
_SCALE_TO_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def words(name: str) -> list[str]:
    """'@lat_ns[read]' -> ['lat', 'ns']: the words of a map or column name, without its key."""
    return _WORD.findall(name.split("[", 1)[0].lower())


def unit_of(name: str) -> str | None:
    """The unit a name states, the last word that is a unit winning ('TIME (us)' -> 'us')."""
    for word in reversed(words(name)):
        unit = UNIT_WORDS.get(word)
        if unit is not None and not (unit == "bytes" and word == "b" and len(words(name)) == 1):
            return unit
    return None


def role_of(name: str, numeric: bool) -> str:
    """duration, size, count, id, timestamp, error, or value: what a column holds."""
    parts = words(name)
    joined = "_".join(parts)
    unit = unit_of(name)
    if joined in ERROR_WORDS or any(word in ERROR_WORDS for word in parts[:1]):
        return "error"
    if parts and parts[0] in TIMESTAMP_WORDS and not any(word in DURATION_WORDS for word in parts):
        return "timestamp" if not numeric or unit in (None, "s") or len(parts) == 1 else "duration"
    if any(word in ID_WORDS for word in parts):
        return "id"
    if unit in DURATION_UNITS or any(word in DURATION_WORDS for word in parts):
        return "duration"
    if unit in SIZE_UNITS or any(word in SIZE_WORDS for word in parts):
        return "size"
    if any(word in COUNT_WORDS for word in parts):
        return "count"
    return "value"


def format_quantity(value: float | None, unit: str | None) -> str:
    """'2.1 ms' for 2100 us, '4 KB' for 4096 bytes; plain numbers keep their unit or none."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0" + (f" {unit}" if unit else "")
    if unit in _SCALE_TO_NS:
        ns = value * _SCALE_TO_NS[unit]
        for name in ("s", "ms", "us"):
            if abs(ns) >= _SCALE_TO_NS[name]:
                return f"{_short(ns / _SCALE_TO_NS[name])} {name}"
        return f"{_short(ns)} ns"
    if unit == "bytes":
        for name, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
            if abs(value) >= scale:
                return f"{_short(value / scale)} {name}"
        return f"{_short(value)} bytes"
    return _short(value) + (f" {unit}" if unit else "")


def _short(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
