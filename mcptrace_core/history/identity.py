"""Which process owns a running record, and whether that process is still alive.

A pid alone is not enough: after a reboot or a wrap-around another process may carry it. A process is
named by its pid, the boot it runs in and its start time (clock ticks since boot, from /proc), so two
servers sharing one database never mistake each other's live runs for leftovers of a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# One reader of /proc/<pid>/stat: the watchdog's (it runs as a stdlib-only script, so it holds the code).
from mcptrace_core.runs.watchdog import start_ticks

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    boot_id: str
    start_ticks: int

    @classmethod
    def current(cls) -> ProcessIdentity:
        return _current(os.getpid())

    def is_alive(self) -> bool:
        if self.boot_id != boot_id():
            return False
        return start_ticks(self.pid) == self.start_ticks


@cache
def _current(pid: int) -> ProcessIdentity:  # keyed by pid, so a forked child gets its own
    return ProcessIdentity(pid, boot_id(), start_ticks(pid) or 0)


@cache
def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:  # not Linux, or /proc hidden: every boot looks alike, the start time still tells
        return "unknown"
