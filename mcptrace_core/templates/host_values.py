"""Parameters that name things on this host: binaries, cgroups, block devices.

Each is checked where the program will run, so a typo is an error naming the parameter now rather than
a probe silently dropped later (bpftrace 0.17 drops a uprobe on a missing function without a word).
Paths end up inside probe specs and string literals, so only characters that cannot end either are
accepted.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
from pathlib import Path

PROBE_PATH = re.compile(r"^/[A-Za-z0-9_./+@-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
_LIBRARY_DIRS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib")
_ELF_MAGIC = b"\x7fELF"
_DEVICE_NUMBERS = re.compile(r"^(\d{1,4}):(\d{1,7})$")
MINOR_BITS = 20
"""The kernel's dev_t keeps the minor number in the low 20 bits (block tracepoints report this form)."""


def resolve_binary(value: str) -> str:
    """An absolute path to an ELF file here, from a path or from a program or library name."""
    text = value.strip()
    if "/" in text:
        if not text.startswith("/"):
            raise ValueError(f"{value!r} must be an absolute path (or a bare name such as bash or libc)")
        path = os.path.normpath(text)
    elif _NAME.match(text):
        found = shutil.which(text) or _find_library(text)
        if found is None:
            raise ValueError(f"{value!r} is neither a program on PATH nor a library in {', '.join(_LIBRARY_DIRS)}")
        path = found
    else:
        raise ValueError(f"{value!r} is not a path or a name of letters, digits and _ . + -")
    if not PROBE_PATH.match(path):
        raise ValueError(
            f"{path!r} has characters a probe spec cannot hold (spaces, quotes, ':' ...); "
            "make a symlink without them and give that"
        )
    _check_elf(path)
    return path


def _find_library(name: str) -> str | None:
    """The first ELF library named ``name`` in the usual directories; searches are remembered while the file stays."""
    found = _search_library(name)
    if found is not None and not os.path.isfile(found):  # removed or upgraded since: search again
        _search_library.cache_clear()
        found = _search_library(name)
    return found


@functools.lru_cache(maxsize=64)
def _search_library(name: str) -> str | None:
    stem = name.removeprefix("lib")
    multiarch = sorted(glob.glob("/usr/lib/*-linux-*")) + sorted(glob.glob("/lib/*-linux-*"))
    for directory in (*multiarch, *_LIBRARY_DIRS):
        for candidate in (name, f"lib{stem}.so.*", f"lib{stem}.so", f"{name}.so.*", f"{name}.so"):
            for match in sorted(glob.glob(os.path.join(directory, candidate))):
                if os.path.isfile(match) and _is_elf(match):  # libc.so itself is a linker script
                    return match
    return None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _ELF_MAGIC
    except OSError:
        return False


def _check_elf(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise ValueError(f"{path!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{path!r} is a directory, not a binary") from None
    except OSError as error:
        raise ValueError(f"{path!r} cannot be read: {error.strerror}") from None
    if magic != _ELF_MAGIC:
        kind = "a script" if magic.startswith(b"#!") else "not an ELF binary"
        raise ValueError(f"{path!r} is {kind}; uprobes attach to ELF executables and libraries")


def resolve_cgroup(value: int | str) -> int | str:
    """A cgroup v2 id, or a normalised path of an existing directory in a cgroup v2 hierarchy."""
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if number < 1:
            raise ValueError("a cgroup id is a positive integer")
        return number
    text = value.strip()
    if not text.startswith("/") or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError(f"{value!r} must be an absolute path without control characters, or a numeric id")
    path = os.path.normpath(text)
    mounts = cgroup2_mounts()
    if not any(path == mount or path.startswith(mount.rstrip("/") + "/") for mount in mounts):
        where = ", ".join(mounts) or "nowhere (no cgroup2 mount on this host)"
        raise ValueError(
            f"{path!r} is not in a cgroup v2 hierarchy (mounted at {where}); bpftrace's cgroup builtin is a v2 id"
        )
    if not os.path.isdir(path):
        raise ValueError(f"{path!r} is not an existing cgroup directory")
    return path


def cgroup2_mounts() -> list[str]:
    """Where cgroup2 is mounted, from /proc/self/mounts."""
    try:
        lines = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            mounts.append(fields[1].replace("\\040", " "))
    return mounts


def resolve_block_device(value: str) -> str:
    """'MAJOR:MINOR' of a block device given by name (sda) or by numbers (8:0)."""
    text = value.strip()
    numbers = _DEVICE_NUMBERS.match(text)
    if numbers:
        major, minor = int(numbers[1]), int(numbers[2])
        if major >= 4096 or minor >= 1 << MINOR_BITS:
            raise ValueError(f"{value!r}: major must be < 4096 and minor < {1 << MINOR_BITS}")
        return f"{major}:{minor}"
    if not _NAME.match(text):
        raise ValueError(f"{value!r} is not a block device name or MAJOR:MINOR")
    try:
        return Path("/sys/class/block", text, "dev").read_text(encoding="ascii").strip()
    except OSError:
        present = ", ".join(sorted(os.listdir("/sys/class/block"))) if os.path.isdir("/sys/class/block") else "none"
        raise ValueError(f"no block device {text!r} here; present: {present}") from None


def kernel_dev_t(major: int, minor: int) -> int:
    """The kernel's internal dev_t, as block tracepoints report it in args->dev."""
    return (major << MINOR_BITS) | minor
