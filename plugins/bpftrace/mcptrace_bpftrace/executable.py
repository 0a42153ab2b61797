"""Find the bpftrace executable and learn its version (options differ between versions)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mcptrace_core.runs.process import Bounds, bounded_argv
from mcptrace_bpftrace.features import Features, features_from_help

FALLBACK_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/snap/bin")
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Bpftrace:
    path: str
    version: tuple[int, int, int]
    version_text: str
    help_text: str = field(default="", repr=False)

    @cached_property
    def features(self) -> Features:
        """Read once from ``--help`` (up to 20 KB), not on every validation and run."""
        return features_from_help(self.help_text, self.version)

    @property
    def check_flags(self) -> list[str]:
        """How to compile without attaching (``-d`` on 0.17, ``--emit-elf /dev/null`` where -d takes a stage)."""
        return list(self.features.check_flags)


class BpftraceMissing(Exception):
    """bpftrace is not installed, or the configured path does not work."""


def locate(configured: str | None) -> Bpftrace:
    """The configured bpftrace, else the one on PATH, else one in the usual sbin/bin folders."""
    candidates = [configured] if configured else [shutil.which("bpftrace")] + [
        str(Path(folder) / "bpftrace") for folder in FALLBACK_DIRS
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return _probe_version(candidate)
    where = f"at {configured} (bpftrace.path)" if configured else "on PATH or in " + ", ".join(FALLBACK_DIRS)
    raise BpftraceMissing(
        f"bpftrace not found {where}; install it (Debian/Ubuntu: apt-get install -y bpftrace) "
        "or set bpftrace.path in the config"
    )


def _probe_version(path: str) -> Bpftrace:
    try:
        completed = _ask(path, "--version")
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BpftraceMissing(f"{path} --version failed: {error}") from error
    text = (completed.stdout or completed.stderr).strip()
    match = _VERSION.search(text)
    if completed.returncode != 0 or match is None:
        raise BpftraceMissing(f"{path} --version did not report a version: {text[:200]!r}")
    major, minor, patch = (int(part or 0) for part in match.groups())
    return Bpftrace(path=path, version=(major, minor, patch), version_text=text, help_text=_help_text(path))


def _help_text(path: str) -> str:
    """``bpftrace --help``: its options and the environment variables it reads (empty if it fails)."""
    try:
        completed = _ask(path, "--help")
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (completed.stdout + completed.stderr)[:20_000]


def _ask(path: str, option: str) -> subprocess.CompletedProcess[str]:
    """``bpftrace OPTION`` in a process group of its own, killed with the server: nothing a server starts
    outlives it or shares its group."""
    argv = [path, option]
    return subprocess.run(bounded_argv(argv, Bounds(death_signal=signal.SIGKILL)) or argv,
                          capture_output=True, text=True, timeout=10, check=False, start_new_session=True)
