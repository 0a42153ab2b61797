"""Which probes a bpftrace program attaches, and which probe type each one needs.

Packs need this twice: to check that an example's ``probes`` and ``requires`` tell the truth, and to
describe programs that come without that metadata (the host's *.bt tools, GPTtrace imports). This is
a small scanner of the top level of a program, not a parser: it skips comments, strings, predicates,
action blocks, ``#include`` lines and struct definitions, and reads what is left as probe lists.
"""

from __future__ import annotations

import re

ALIASES = {
    "t": "tracepoint",
    "k": "kprobe",
    "kr": "kretprobe",
    "u": "uprobe",
    "ur": "uretprobe",
    "U": "usdt",
    "p": "profile",
    "i": "interval",
    "s": "software",
    "h": "hardware",
    "f": "kfunc",
    "fr": "kretfunc",
    "it": "iter",
    "w": "watchpoint",
    "aw": "asyncwatchpoint",
    "rt": "rawtracepoint",
}
"""bpftrace's short probe-type names."""

REQUIREMENT_OF_TYPE = {
    "tracepoint": "tracepoint",
    "kprobe": "kprobe",
    "kretprobe": "kretprobe",
    "uprobe": "uprobe",
    "uretprobe": "uretprobe",
    "usdt": "usdt",
    "profile": "profile",
    "interval": "interval",
    "software": "software",
    "hardware": "hardware",
    "kfunc": "kfunc",
    "kretfunc": "kfunc",
    "iter": "iter",
    "watchpoint": "watchpoint",
    "asyncwatchpoint": "watchpoint",
}
"""The ``requires`` entry each probe type needs; BEGIN and END need nothing."""

SPECIAL_PROBES = ("BEGIN", "END")
BINARY_TYPES = ("uprobe", "uretprobe", "usdt")
"""Probe types whose spec names a binary by path, so '/' may be part of the spec."""

_COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.S)
_PREPROCESSOR = re.compile(r"^[ \t]*#[^\n]*", re.M)
_TYPE_DEFINITION = re.compile(r"^(?:struct|union|enum)\b")


class UnknownProbeType(ValueError):
    """A probe spec names a probe type that bpftrace does not have."""


def full_type(spec: str) -> str:
    """The probe type of a spec with its alias expanded: ``t:sched:x`` -> ``tracepoint``."""
    if spec in SPECIAL_PROBES:
        return spec
    kind = spec.split(":", 1)[0]
    return ALIASES.get(kind, kind)


def expand_alias(spec: str) -> str:
    """The spec with its probe-type alias expanded: ``t:sched:x`` -> ``tracepoint:sched:x``."""
    kind, sep, rest = spec.partition(":")
    return f"{ALIASES.get(kind, kind)}{sep}{rest}" if sep else spec


def requirement(spec: str) -> str | None:
    """What a probe spec needs in ``requires``; None for BEGIN/END. Raises UnknownProbeType."""
    kind = full_type(spec)
    if kind in SPECIAL_PROBES:
        return None
    try:
        return REQUIREMENT_OF_TYPE[kind]
    except KeyError:
        known = ", ".join(sorted(set(REQUIREMENT_OF_TYPE) | set(ALIASES)))
        raise UnknownProbeType(
            f"unknown probe type {kind!r} in {spec!r} (known: {known}, BEGIN, END)"
        ) from None


def _blank(match: re.Match[str]) -> str:
    """Replace a comment or string by spaces, keeping newlines so positions stay meaningful."""
    return "".join("\n" if char == "\n" else " " for char in match.group(0))


def probe_specs(program: str) -> list[str]:
    """The probe specs of ``program`` in order of appearance, each once, as written (aliases kept)."""
    text = _PREPROCESSOR.sub("", _COMMENT_OR_STRING.sub(_blank, program))
    specs: list[str] = []
    header: list[str] = []
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if depth:
            depth += {"{": 1, "}": -1}.get(char, 0)
        elif char == "{":
            _take_header("".join(header), specs)
            header = []
            depth = 1
        elif char == "/" and _starts_predicate("".join(header)):
            # Skip to the closing slash that is followed by the action block.
            end = re.compile(r"/\s*\{").search(text, index + 1)
            if end is None:
                break
            index = end.start()
            _take_header("".join(header), specs)
            header = []
        elif char == ";":
            header = []  # the end of a top-level declaration such as a struct definition
        else:
            header.append(char)
        index += 1
    return list(dict.fromkeys(specs))


def _starts_predicate(header: str) -> bool:
    """Whether a '/' after ``header`` opens a predicate rather than continuing a uprobe's binary path."""
    if not header.strip():
        return False
    if header[-1].isspace():
        return True
    current = header.rsplit(",", 1)[-1].strip()
    return full_type(current) not in BINARY_TYPES


def _take_header(header: str, specs: list[str]) -> None:
    header = header.strip()
    if not header or _TYPE_DEFINITION.match(header):
        return
    specs.extend(part.strip() for part in header.split(",") if part.strip())
