"""Which files a program's ``#include`` lines make clang read, and whether they may.

bpftrace hands a program's preprocessor lines to clang, which reads the named file as root before any
probe exists: ``#include "/etc/shadow"`` puts words of the file into the compile errors. So an include is
judged before bpftrace sees the program: it may only name a regular file inside a system header directory
(the policy's ``include_dirs``), after resolving ``..`` and symlinks; a device, FIFO, socket or anything
under /proc, /sys or /dev is refused, and so is a target clang would compute (a macro).

The scan reads raw source lines, as clang's preprocessor does (line continuations joined, digraph ``%:``
and trigraph ``??=`` spellings of ``#`` included), not the parsed program: a directive the grammar puts
inside a C declaration is still an include.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcptrace_core.safety.paths import file_kind, matches, resolve_path

if TYPE_CHECKING:
    from mcptrace_core.safety.models import SafetyPolicy

_DIRECTIVE = re.compile(
    r"^[ \t]*(?:#|%:|\?\?=)[ \t]*(?:/\*.*?\*/[ \t]*)*(?P<keyword>include_next|include|import|embed)\b(?P<rest>.*)$"
)
_TARGET = re.compile(r'^[ \t]*(?:/\*.*?\*/[ \t]*)*(?:"(?P<quoted>[^"\n]*)"|<(?P<angled>[^>\n]*)>)')
_FORBIDDEN_TREES = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class Include:
    """One include directive: where it is, what it names, and why it is refused (None: allowed)."""

    line: int
    text: str
    target: str | None
    refused: str | None


def includes(source: str, include_dirs: Sequence[str], cwd: str | None = None) -> list[Include]:
    """Every include directive of ``source``, judged against ``include_dirs``."""
    found: list[Include] = []
    if not any(mark in source for mark in ("#", "%:", "??=")):
        return found  # no directive can be spelled without one of these
    dirs: list[str] | None = None
    for line, text in _logical_lines(source):
        directive = _DIRECTIVE.match(text)
        if directive is None:
            continue
        dirs = _expand(include_dirs) if dirs is None else dirs
        found.append(_judge(line, text.strip(), directive["keyword"], directive["rest"], dirs, cwd))
    return found


def refused_includes(source: str, include_dirs: Sequence[str], cwd: str | None = None) -> list[Include]:
    return [include for include in includes(source, include_dirs, cwd) if include.refused]


def strictest_include_dirs(policies: Iterable[SafetyPolicy]) -> list[str]:
    """The include directories every policy in force allows (a run meets all of them)."""
    chosen: list[str] | None = None
    for policy in policies:
        chosen = list(policy.include_dirs) if chosen is None else [d for d in chosen if d in policy.include_dirs]
    return chosen if chosen is not None else []


def _logical_lines(source: str) -> Iterable[tuple[int, str]]:
    """(first physical line, text) with backslash-newline continuations joined and comments blanked, as the
    preprocessor sees it (``/* x */ #include "f"`` is a directive)."""
    pending: list[str] = []
    start = 1
    for number, physical in enumerate(_without_comments(source).split("\n"), start=1):
        if not pending:
            start = number
        stripped = physical.rstrip("\r")
        if stripped.endswith("\\") or stripped.endswith("??/"):
            pending.append(stripped[:-1] if stripped.endswith("\\") else stripped[:-3])
            continue
        pending.append(stripped)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _without_comments(source: str) -> str:
    """``source`` with C comments replaced by spaces (their newlines kept) and string literals left alone."""
    out: list[str] = []
    index, length = 0, len(source)
    while index < length:
        char = source[index]
        if char == '"':
            end = index + 1
            while end < length and source[end] not in '"\n':
                end += 2 if source[end] == "\\" else 1
            out.append(source[index:end + 1])
            index = end + 1
        elif source.startswith("/*", index):
            end = source.find("*/", index + 2)
            end = length if end < 0 else end + 2
            out.append(" " + "\n" * source.count("\n", index, end))
            index = end
        elif source.startswith("//", index):
            end = source.find("\n", index)
            index = length if end < 0 else end
            out.append(" ")
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _expand(include_dirs: Sequence[str]) -> list[str]:
    """The include directories as resolved paths (patterns such as /usr/lib/llvm-* expanded)."""
    dirs: list[str] = []
    for pattern in include_dirs:
        for path in sorted(glob.glob(pattern)) if any(char in pattern for char in "*?[") else [pattern]:
            resolved = resolve_path(path, "/").path
            if resolved is not None and resolved not in dirs:
                dirs.append(resolved)
    return dirs


def _judge(line: int, text: str, keyword: str, rest: str, dirs: list[str], cwd: str | None) -> Include:
    def refuse(why: str, target: str | None = None) -> Include:
        return Include(line, text, target, why)

    if keyword == "embed":
        return refuse("#embed copies a file's bytes into the program")
    target = _TARGET.match(rest)
    if target is None:
        return refuse("its file name is not a literal \"file\" or <file> (a macro decides it)")
    name = target["quoted"] if target["quoted"] is not None else target["angled"]
    if not name or "\\" in name or "%" in name:
        return refuse("its file name is empty or holds escapes or format specifiers", name)
    # A quoted name is looked up next to the program first (for a program on stdin: the working directory).
    candidates = [name] if name.startswith("/") else [
        *([name] if target["quoted"] is not None else []), *(f"{directory}/{name}" for directory in dirs),
    ]
    for candidate in candidates:
        resolved = resolve_path(candidate, cwd)
        if resolved.path is None:
            return refuse(f"{name} cannot be resolved before the run: {resolved.reason}", name)
        if any(resolved.path == tree or resolved.path.startswith(tree + "/") for tree in _FORBIDDEN_TREES):
            return refuse(f"{name} resolves to {resolved.path}, under /proc, /sys or /dev", name)
        kind = file_kind(resolved.path)
        inside = any(matches(resolved.path, f"{directory}/**") for directory in dirs)
        if kind is None:
            if name.startswith("/") and not inside:
                return refuse(f"{name} is outside the system header directories", name)
            continue  # clang looks further along its search path
        if not inside:
            return refuse(f"{name} resolves to {resolved.path}, outside the system header directories "
                          "(the policy's include_dirs)", name)
        if kind != "regular":
            return refuse(f"{name} resolves to {resolved.path}, which is a {kind}, not a header file", name)
        return Include(line, text, name, None)
    if ".." in name.split("/"):
        return refuse(f"{name} climbs out of its directory with '..'", name)
    return Include(line, text, name, None)  # not on disk: one of bpftrace's built-in headers, or a compile error
