"""What a file path in a program really names: resolved the way the kernel will, before any rule judges it.

``cat("etc/shadow")`` from a server whose working directory is ``/``, ``cat("/proc/1/root/etc/shadow")``,
``cat("/tmp/link")`` where the link points at a key: a rule that matched the text would see none of these.
``resolve_path`` walks the path component by component as open(2) does: relative to the server's working
directory (bpftrace inherits it), following ``..``, ``//`` and symlinks (bounded, like the kernel's 40),
and through ``/proc/<pid>/root``. What cannot be known before the run is ``unknown`` with the reason:
a name with format specifiers (decided by traced data), another process's working directory or open
files (``/proc/<pid>/cwd``, ``/proc/<pid>/fd/N``, ``map_files``), a loop of links. Rules treat unknown
as "may be any file".
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

MAX_LINKS = 40
"""Symlinks followed before giving up, as Linux does (ELOOP)."""
MAX_COMPONENTS = 4096
"""Components walked in all (links expand the walk): a bound on the work one hostile path can cause."""

FORMAT_SPECIFIER = re.compile(r"%")
"""cat() formats its path like printf: any % makes the name depend on run-time values (%% included,
whose meaning a rule need not guess)."""
_PROCESS = re.compile(r"^(?:[0-9]+|self|thread-self)$")
_PER_PROCESS_LINKS = {
    "cwd": "another process's working directory",
    "fd": "another process's open files",
    "map_files": "another process's mapped files",
    "exe": "another process's executable",
}
"""Links under /proc/<pid>/ whose target belongs to a process and can change before the run reads it."""


@dataclass(frozen=True)
class ResolvedPath:
    """A path as written and what it names; ``path`` is None when that cannot be known before the run."""

    written: str
    path: str | None
    reason: str = ""
    """Why the path is unknown, or how it was reached (through a symlink, another process's root)."""

    @property
    def known(self) -> bool:
        return self.path is not None


def resolve_path(written: str, cwd: str | None = None) -> ResolvedPath:
    """Resolve ``written`` against ``cwd`` (the server's working directory by default)."""
    if FORMAT_SPECIFIER.search(written):
        return ResolvedPath(written, None, "its name contains a format specifier, so traced data decides it")
    if "\0" in written:
        written = written.split("\0", 1)[0]  # bpftrace's string ends at the first NUL
    if not written:
        return ResolvedPath(written, None, "the name is empty")
    base = cwd if cwd is not None else _cwd()
    if base is None:
        if not written.startswith("/"):
            return ResolvedPath(written, None, "it is relative and the working directory is unknown")
        base = "/"
    start = written if written.startswith("/") else f"{base}/{written}"
    return _walk(written, start)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the working directory was removed
        return None


def _walk(written: str, start: str) -> ResolvedPath:
    pending = [part for part in reversed(start.split("/"))]
    resolved: list[str] = []
    links = steps = 0
    notes: list[str] = []
    while pending:
        steps += 1
        if steps > MAX_COMPONENTS:
            return ResolvedPath(written, None, "the path expands to too many components")
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        magic = _proc_link(resolved, part)
        if magic == "root":
            notes.append(f"through /{'/'.join(resolved)}/root (judged as this host's root)")
            resolved = []
            continue
        if magic is not None:
            return ResolvedPath(written, None, f"it goes through {magic} (/{'/'.join([*resolved, part])})")
        candidate = "/" + "/".join([*resolved, part])
        target = _link_target(candidate)
        if target is None:
            resolved.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            return ResolvedPath(written, None, "too many symbolic links (a loop?)")
        notes.append(f"{candidate} is a link to {target}")
        if target.startswith("/"):
            resolved = []
        pending.extend(reversed(target.split("/")))
    return ResolvedPath(written, "/" + "/".join(resolved), "; ".join(notes))


def _proc_link(resolved: list[str], part: str) -> str | None:
    """'root' or the description of a per-process link when ``part`` under ``resolved`` is one."""
    in_process = (len(resolved) == 2 and resolved[0] == "proc" and _PROCESS.match(resolved[1])) or (
        len(resolved) == 4 and resolved[0] == "proc" and _PROCESS.match(resolved[1]) and resolved[2] == "task"
        and resolved[3].isdigit()
    )
    if not in_process:
        return None
    if part == "root":
        return "root"
    return _PER_PROCESS_LINKS.get(part)


def _link_target(path: str) -> str | None:
    """The target of ``path`` when it is a symlink; None for anything else (missing files included)."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return None
        return os.readlink(path)
    except (OSError, ValueError):
        return None


def file_kind(path: str) -> str | None:
    """'regular', 'directory', 'device', 'fifo', 'socket' for an existing path (links followed); None if missing."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def matches(path: str, pattern: str) -> bool:
    """``path`` against a shell-style ``pattern`` component by component: '*' never crosses a '/', and a
    '**' component matches any number of components (none included)."""
    return _match_parts(path.split("/"), pattern.split("/"))


def _match_parts(parts: list[str], wanted: list[str]) -> bool:
    from fnmatch import fnmatchcase

    if not wanted:
        return not parts
    if wanted[0] == "**":
        return any(_match_parts(parts[skip:], wanted[1:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], wanted[0]) and _match_parts(parts[1:], wanted[1:])
