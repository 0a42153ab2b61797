"""Start a child in its own process group, tied to the server's life, and signal it.

The child gets a parent-death signal (PR_SET_PDEATHSIG; SIGTERM for runs, which may detach
cleanly, SIGKILL for checks): if the server dies without cleaning up (even by SIGKILL), the kernel
tells the child to stop. What the child started (a ``system()`` shell and its command) has no such
signal, so every group is also registered with the server's ``ChildGuard``, whose watchdog kills the
whole group when the server dies; ``kill_group`` releases it.

util-linux's ``setpriv --pdeathsig`` sets the signal and then execs the command (same pid), and its
``prlimit`` sets resource limits the same way; a Python ``preexec_fn`` would do both but forces a full
fork of the server, about 10 ms per child, so it is only the fallback.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import resource
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mcptrace_core.runs.guard import current_guard

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Bounds:
    """How a child is tied and limited: its parent-death signal and, optionally, resource limits."""

    death_signal: int = signal.SIGTERM
    memory_bytes: int | None = None
    """RLIMIT_AS: address space; an allocation beyond it fails (bpftrace then aborts)."""
    cpu_s: int | None = None
    """RLIMIT_CPU: CPU seconds; the kernel sends SIGXCPU, then SIGKILL a second later."""
    core_bytes: int | None = None
    """RLIMIT_CORE: 0 leaves no core file behind when the child aborts."""

    def rlimits(self) -> list[tuple[int, int]]:
        limits = []
        if self.core_bytes is not None:
            limits.append((resource.RLIMIT_CORE, self.core_bytes))
        if self.memory_bytes is not None:
            limits.append((resource.RLIMIT_AS, self.memory_bytes))
        if self.cpu_s is not None:
            limits.append((resource.RLIMIT_CPU, self.cpu_s))
        return limits


RUN_BOUNDS = Bounds()


def _prepare_child(parent: int, bounds: Bounds) -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, bounds.death_signal, 0, 0, 0)
    if os.getppid() != parent:  # the server died between fork and prctl
        os._exit(1)
    for limit, value in bounds.rlimits():
        resource.setrlimit(limit, (value, value))


@cache
def _util(name: str) -> str | None:
    return shutil.which(name)


def bounded_argv(argv: list[str], bounds: Bounds) -> list[str] | None:
    """``argv`` behind setpriv (and prlimit when there are limits), or None when those are missing."""
    setpriv = _util("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--pdeathsig", signal.Signals(bounds.death_signal).name, "--"]
    if bounds.rlimits():
        prlimit = _util("prlimit")
        if prlimit is None:
            return None
        names = {resource.RLIMIT_AS: "--as", resource.RLIMIT_CPU: "--cpu", resource.RLIMIT_CORE: "--core"}
        prefix += [prlimit, *(f"{names[limit]}={value}" for limit, value in bounds.rlimits()), "--"]
    return prefix + argv


async def spawn(
    argv: list[str], extra_env: Mapping[str, str], bounds: Bounds = RUN_BOUNDS, *, stdout_pipe: bool = True
) -> asyncio.subprocess.Process:
    """Start ``argv`` with piped stdout/stderr, no stdin, in a new session (its own process group).

    The group is registered with this server's ChildGuard; call ``kill_group`` once the child is done.
    """
    env = {**os.environ, **extra_env} if extra_env else None
    if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None:  # setpriv would only exit 127
        raise FileNotFoundError(errno.ENOENT, "no such executable (or not executable)", argv[0])
    wrapped = bounded_argv(argv, bounds)
    parent = os.getpid()
    process = await asyncio.create_subprocess_exec(
        *(wrapped or argv),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if stdout_pipe else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=None if wrapped else lambda: _prepare_child(parent, bounds),
    )
    current_guard().register(process.pid)
    return process


def wait_channel(pid: int) -> str | None:
    """Where ``pid`` sleeps in the kernel (/proc/<pid>/wchan): how a stop tells a tracer blocked on its
    output pipe, attaching, or idle in its event loop. None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text(encoding="ascii").strip()
    except OSError:
        return None


def send_signal(process: asyncio.subprocess.Process, signum: int) -> None:
    """Signal the process itself; a process that already exited is not an error."""
    if process.returncode is None:
        try:
            process.send_signal(signum)
        except ProcessLookupError:
            pass


def kill_group(pid: int) -> None:
    """SIGKILL the whole process group the child leads (it and anything it started); the guard forgets it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    current_guard().release(pid)


def watch_exit(pid: int, on_exit: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_exit`` on the event loop when process ``pid`` exits; return a function that stops watching.

    A pidfd becomes readable when the process exits, whether or not its pipes are still open.
    """
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # already exited and reaped
        loop.call_soon(on_exit)
        return lambda: None
    watching = True

    def stop() -> None:
        nonlocal watching
        if watching:
            watching = False
            loop.remove_reader(fd)
            os.close(fd)

    def fire() -> None:
        stop()
        on_exit()

    loop.add_reader(fd, fire)
    return stop
