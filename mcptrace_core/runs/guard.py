"""Every child process group of this server, known to a watchdog that kills them if the server dies.

``spawn`` registers each child's group here and ``kill_group`` releases it. The groups go to the
watchdog (see watchdog.py), which outlives a SIGKILLed server just long enough to end them, and to
listeners (the history store records them, so a later server can sweep what a crash left when the
watchdog died too).

There is one guard per server process, found with ``guard_of(os.getpid())``: the thing it watches is
this process's death, which no object of a smaller scope can stand for. It starts its watchdog on the
first child, so commands that never spawn pay nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from functools import cache
from pathlib import Path
from typing import Protocol

from mcptrace_core.runs.watchdog import start_ticks
from mcptrace_core.logging import get_logger

log = get_logger(__name__)

WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")


class GroupListener(Protocol):
    """Told when a child group starts and when it has been killed; must return at once, never raise."""

    def group_started(self, pgid: int, leader_ticks: int) -> None: ...

    def group_ended(self, pgid: int) -> None: ...


class ChildGuard:
    def __init__(self) -> None:
        self._groups: dict[int, int] = {}
        self._listeners: list[GroupListener] = []
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def groups(self) -> dict[int, int]:
        """The live groups: process group id -> its leader's start time (clock ticks since boot)."""
        return dict(self._groups)

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid if self._watchdog is not None else None

    def add_listener(self, listener: GroupListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: GroupListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def register(self, pgid: int) -> None:
        """A child leading its own group ``pgid`` has started."""
        ticks = start_ticks(pgid)
        if ticks is None:  # already gone (and reaped): nothing to guard
            return
        with self._lock:
            self._groups[pgid] = ticks
            self._tell_watchdog(f"+{pgid} {ticks}\n")
        for listener in list(self._listeners):
            _notify(listener.group_started, pgid, ticks)

    def release(self, pgid: int) -> None:
        """Group ``pgid`` has been killed; forget it."""
        with self._lock:
            if self._groups.pop(pgid, None) is None:
                return
            self._tell_watchdog(f"-{pgid}\n")
        for listener in list(self._listeners):
            _notify(listener.group_ended, pgid)

    def _tell_watchdog(self, line: str) -> None:
        for _ in range(2):  # a watchdog that died is replaced once, and told every live group
            if self._watchdog is None or self._watchdog.poll() is not None:
                self._watchdog = _start_watchdog()
                if self._watchdog is None:
                    return
                line = "".join(f"+{pgid} {ticks}\n" for pgid, ticks in self._groups.items()) + line
            try:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.write(line.encode("ascii"))
                self._watchdog.stdin.flush()
                return
            except (BrokenPipeError, OSError):
                self._watchdog = None


def _start_watchdog() -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(WATCHDOG_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the server's group must not take the watchdog with it
        )
    except OSError as error:
        log.warning("the child watchdog cannot start: children may outlive a killed server", error=str(error))
        return None


def _notify(hook: object, *args: int) -> None:
    try:
        hook(*args)  # type: ignore[operator]
    except Exception:  # isolation: a listener's bug never breaks a child's start or end
        log.exception("child group listener failed")


@cache
def guard_of(pid: int) -> ChildGuard:
    """The guard of process ``pid`` (always ``os.getpid()``: a forked child gets a guard of its own)."""
    return ChildGuard()


def current_guard() -> ChildGuard:
    return guard_of(os.getpid())
