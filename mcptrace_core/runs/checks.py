"""Short helper processes (compile checks) that cost the server a bounded share of the host.

A check is read-only for the caller, so its price must not depend on what it is given: at most
``checks.max_concurrent`` run at once (the rest wait, up to the timeout), each in its own process
group with an address-space and a CPU limit and a SIGKILL parent-death signal, and the whole group is
killed at the timeout. Measured: ``#include "/dev/zero"`` grew ``bpftrace -d`` to 5.6 GB without a
limit; ``#include "/dev/kmsg"`` blocks for ever.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

from mcptrace_core.config import CheckSettings
from mcptrace_core.runs.process import Bounds, kill_group, spawn

MAX_STDERR_BYTES = 1024 * 1024
"""What a check may say on stderr; the rest is read and dropped (it only repeats the program)."""


@dataclass
class CheckOutcome:
    returncode: int | None
    """None when the check was killed at the timeout or never started for want of a slot."""
    stderr: str
    problem: str | None = None
    """Why there is no return code, in words for the caller."""


class CheckLimiter:
    """The slots, limits and timeout of one server's checks."""

    def __init__(self, settings: CheckSettings) -> None:
        self.settings = settings
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.bounds = Bounds(
            death_signal=signal.SIGKILL,
            memory_bytes=settings.memory_mb * 1024 * 1024,
            cpu_s=max(1, int(settings.cpu_s)),
        )

    async def run(self, argv: list[str], env: Mapping[str, str]) -> CheckOutcome:
        """Run ``argv`` to its end within the limits; stdout is discarded, stderr kept (capped)."""
        timeout_s = self.settings.timeout_s
        began = time.monotonic()
        slots = self._slots_here()
        try:
            await asyncio.wait_for(slots.acquire(), timeout_s)
        except TimeoutError:
            return CheckOutcome(None, "", (
                f"no check slot came free in {timeout_s:g} s ({self.settings.max_concurrent} checks at once, "
                "checks.max_concurrent): try again later"
            ))
        try:
            return await self._run(argv, env, max(1.0, timeout_s - (time.monotonic() - began)))
        finally:
            slots.release()

    def _slots_here(self) -> asyncio.Semaphore:
        """The semaphore of the running event loop (a CLI command may run several loops, one after another)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.settings.max_concurrent))
        return self._slots[1]

    async def _run(self, argv: list[str], env: Mapping[str, str], timeout_s: float) -> CheckOutcome:
        process = await spawn(argv, env, self.bounds, stdout_pipe=False)

        async def finish() -> tuple[bytes, int]:
            assert process.stderr is not None
            stderr = await _read_capped(process.stderr)
            return stderr, await process.wait()

        try:
            stderr, returncode = await asyncio.wait_for(finish(), timeout_s)
        except TimeoutError:
            kill_group(process.pid)
            await process.wait()
            return CheckOutcome(None, "", f"the check did not finish in {self.settings.timeout_s:g} s")
        finally:
            kill_group(process.pid)  # the check and anything it left (also when the caller is cancelled)
        return CheckOutcome(returncode, stderr.decode("utf-8", "replace"))


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < MAX_STDERR_BYTES:
            kept += chunk[: MAX_STDERR_BYTES - len(kept)]
    return bytes(kept)
