"""Interrupt a tracer so that it still prints its maps, also when it floods its output.

A tracer that writes through C stdio (bpftrace does, -f json included) and gets SIGINT while blocked
writing into a full pipe has that write fail with EINTR: stdio marks the stream failed, and everything
printed after it, the final maps included, is lost although the tracer exits 0. Measured here: a
printf on every syscall, stopped while the server read ~20k lines/s, lost its maps in 4 of 5 stops.
So a tracer blocked on its output pipe is paused (SIGSTOP: its write is restarted, not failed), its
pipe is enlarged and drained by the run's readers, it is resumed, and once its restarted write has gone
through (SIGINT pending at the restart would fail it) it is interrupted while the pipe has room.
"""

from __future__ import annotations

import asyncio
import fcntl
import signal
from collections.abc import Callable

from mcptrace_core.runs.process import send_signal, wait_channel

PIPE_WRITE_WCHAN = "anon_pipe_write"
"""Where a process waits when the pipe it writes to is full (/proc/<pid>/wchan)."""
DRAIN_MAX_S = 1.0
DRAIN_POLL_S = 0.02
DRAIN_QUIET_POLLS = 3
ATTEMPTS = 3
RESUME_POLL_S = 0.001
RESUME_MAX_S = 0.2
F_SETPIPE_SZ = 1031
ROOMY_PIPE_BYTES = 1024 * 1024
"""The most an unprivileged process may ask for by default (/proc/sys/fs/pipe-max-size)."""


def blocked_writing_pipe(pid: int) -> bool:
    return wait_channel(pid) == PIPE_WRITE_WCHAN


async def interrupt(process: asyncio.subprocess.Process, bytes_read: Callable[[], int]) -> None:
    """SIGINT ``process`` at a moment it is not blocked writing its output.

    :param bytes_read: how much output the run's readers have taken so far; the pipe is drained once
        it stops growing.
    """
    for _ in range(ATTEMPTS):
        if not blocked_writing_pipe(process.pid):
            break
        send_signal(process, signal.SIGSTOP)
        try:
            _enlarge_stdout_pipe(process)
            await _drained(bytes_read)
        finally:
            drained_at = bytes_read()
            send_signal(process, signal.SIGCONT)
        await _resumed(process.pid, bytes_read, drained_at)
    send_signal(process, signal.SIGINT)


async def _drained(bytes_read: Callable[[], int]) -> None:
    """Return once the readers stopped receiving output (the paused writer's pipe is empty)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_MAX_S
    last, quiet = bytes_read(), 0
    while quiet < DRAIN_QUIET_POLLS and loop.time() < deadline:
        await asyncio.sleep(DRAIN_POLL_S)
        now = bytes_read()
        quiet = quiet + 1 if now == last else 0
        last = now


async def _resumed(pid: int, bytes_read: Callable[[], int], drained_at: int) -> None:
    """Wait (briefly) until ``pid`` runs again and its restarted write went through (output arrives)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUME_MAX_S
    while loop.time() < deadline:
        await asyncio.sleep(RESUME_POLL_S)
        wchan = wait_channel(pid)
        if wchan is None:
            return
        if wchan != "do_signal_stop" and bytes_read() > drained_at:
            return


def _enlarge_stdout_pipe(process: asyncio.subprocess.Process) -> None:
    """Give the pipe room for ~50k lines, so that the tracer is not blocked again when SIGINT comes."""
    transport = getattr(process, "_transport", None)
    pipe = transport.get_pipe_transport(1) if transport is not None else None
    handle = pipe.get_extra_info("pipe") if pipe is not None else None
    if handle is None:
        return
    try:
        fcntl.fcntl(handle.fileno(), F_SETPIPE_SZ, ROOMY_PIPE_BYTES)
    except OSError:
        pass  # over the host's pipe-max-size: the drain alone has to do
