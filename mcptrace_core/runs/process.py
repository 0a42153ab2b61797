"""Start a child in its own process group, tied to the server's life, and signal it.

The child gets PR_SET_PDEATHSIG=SIGTERM: if the server dies without cleaning up (even by SIGKILL),
the kernel tells the child to stop, so no tracing process outlives the server. util-linux's
``setpriv --pdeathsig`` sets it and then execs the command (same pid); a Python ``preexec_fn`` would
do the same but forces a full fork of the server, about 10 ms per run, so it is only the fallback.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from functools import cache

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent: int) -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the server died between fork and prctl
        os._exit(1)


@cache
def _setpriv() -> str | None:
    return shutil.which("setpriv")


async def spawn(argv: list[str], extra_env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """Start ``argv`` with piped stdout/stderr, no stdin, in a new session (its own process group)."""
    env = {**os.environ, **extra_env} if extra_env else None
    if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None:  # setpriv would only exit 127
        raise FileNotFoundError(errno.ENOENT, "no such executable (or not executable)", argv[0])
    setpriv = _setpriv()
    parent = os.getpid()
    return await asyncio.create_subprocess_exec(
        *([setpriv, "--pdeathsig", "SIGTERM", "--", *argv] if setpriv else argv),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=None if setpriv else lambda: _die_with_parent(parent),
    )


def send_signal(process: asyncio.subprocess.Process, signum: int) -> None:
    """Signal the process itself; a process that already exited is not an error."""
    if process.returncode is None:
        try:
            process.send_signal(signum)
        except ProcessLookupError:
            pass


def kill_group(pid: int) -> None:
    """SIGKILL the whole process group the child leads (it and anything it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
