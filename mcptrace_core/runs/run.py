"""One supervised run: its process, its bounded output, its maps, and how it ends.

A run ends in exactly one way. On its own it is ``completed`` (status 0) or ``failed``. Stopped on
request or by its timeout it gets SIGINT, so the tracer prints its maps and exits; if it does not exit
within the grace period (which grows with the number of attached probes, since detaching takes time)
its whole process group gets SIGKILL and the run is ``killed``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcptrace_core.config import RunSettings
from mcptrace_core.logging import get_logger
from mcptrace_core.models import TraceError, TraceMap
from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.runs.interrupt import blocked_writing_pipe, interrupt
from mcptrace_core.runs.lines import pump_lines
from mcptrace_core.runs.models import RunSpec, RunStatus
from mcptrace_core.runs.overhead import LimitCrossed
from mcptrace_core.runs.process import kill_group, send_signal, watch_exit
from mcptrace_core.textsafety import clean_line

if TYPE_CHECKING:
    from mcptrace_core.runs.watch import Breach

log = get_logger(__name__)

STDERR_MAX_LINES = 400
STDERR_MAX_BYTES = 128 * 1024
DRAIN_TIMEOUT_S = 2.0
INTERRUPT_RECHECK_S = 0.5
READY_RECHECK_S = 0.05
TERM_GRACE_S = 3.0
"""After the grace period, how long SIGTERM has before SIGKILL."""


class Run:
    """State of one run. The run manager creates it; backends' decoders feed it."""

    def __init__(self, run_id: str, spec: RunSpec, limits: RunSettings) -> None:
        self.id = run_id
        self.spec = spec
        self.status = RunStatus.running
        self.output = OutputBuffer(limits.max_output_lines, limits.max_output_bytes)
        self.stderr = OutputBuffer(STDERR_MAX_LINES, STDERR_MAX_BYTES)
        self.maps: dict[str, TraceMap] = {}
        self.attached_probes: int | None = None
        self.lost_events = 0
        self.exit_code: int | None = None
        self.errors: list[TraceError] = []
        self.stop_note: str | None = None
        self._stdout_read = 0
        """Bytes read from the process's stdout: tells when its pipe is drained (runs.interrupt)."""
        self.breach: Breach | None = None
        """The limit the watchdog stopped the run for, when it did."""
        self.overhead: Any = None
        """What the run costs the host, as its measuring plugin last saw it (a runs.overhead.RunOverhead)."""
        self.before_stop: list[Callable[[], None]] = []
        """Called once, on the event loop, just before the run is signalled to stop (last measurements)."""
        self.started_at = time.time()
        self._started = time.monotonic()
        self._ended: float | None = None
        self._max_line_chars = limits.max_line_bytes
        self._stop_status: RunStatus | None = None
        self._killed = False
        self._process: asyncio.subprocess.Process | None = None
        self._exited = asyncio.Event()
        self._done = asyncio.Event()
        self._changed = asyncio.Event()

    # -- fed by decoders -------------------------------------------------------------------------

    def add_line(self, text: str) -> None:
        """Append one output line; it is cleaned of control characters and cut to the line cap."""
        line = clean_line(text, self._max_line_chars)
        self.output.append(line)

    def set_map(self, trace_map: TraceMap) -> None:
        """Record the latest printout of a map (maps print again at exit and on print())."""
        self.maps[trace_map.name] = trace_map

    # -- queries ---------------------------------------------------------------------------------

    @property
    def duration_s(self) -> float:
        end = self._ended if self._ended is not None else time.monotonic()
        return round(end - self._started, 3)

    @property
    def output_bytes(self) -> int:
        """Bytes of output lines seen (kept or dropped), for the output-rate limit."""
        return self.output.total_bytes

    @property
    def limit_crossed(self) -> LimitCrossed | None:
        """The limit the run was stopped for, as results show it."""
        if self.breach is None:
            return None
        return LimitCrossed.model_validate(self.breach.as_dict())

    @property
    def ended_monotonic(self) -> float | None:
        return self._ended

    async def wait_changed(self, timeout: float) -> None:
        """Return when new output arrives or the run ends, or after ``timeout`` seconds."""
        if self.status.finished:
            return
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    async def wait_for_lines(self, offset: int, timeout: float) -> None:
        """Return when a line exists past ``offset`` or the run ends, or after ``timeout`` seconds.

        Not a single wait_changed: the run also changes on stderr, on a JSON event that is no line
        (attached_probes) and on a chunk that ends mid-line, which would wake a long poll with nothing.
        """
        deadline = time.monotonic() + timeout
        while self.output.total <= offset and not self.status.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await self.wait_changed(left)

    async def wait_done(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- lifecycle (driven by the run manager) ---------------------------------------------------

    def attach(self, process: asyncio.subprocess.Process) -> None:
        """Bind the started process, so the run can be stopped from the moment start() returns."""
        self._process = process

    @property
    def pid(self) -> int | None:
        """The process id of the run's process (the leader of its process group)."""
        return self._process.pid if self._process is not None else None

    async def supervise(self, process: asyncio.subprocess.Process) -> None:
        """Pump output until the process ends, enforce the timeout, then settle the final status.

        The end is the leader's exit, seen through a pidfd: asyncio's ``wait()`` also waits for the
        pipes to close, which a grandchild left in the group can hold open for ever. Once the leader
        is gone, whatever is left in its process group is killed, which closes the pipes.
        """
        assert process.stdout is not None and process.stderr is not None
        pumps = [
            asyncio.create_task(
                pump_lines(process.stdout, self._on_stdout, self._max_line_chars, self._notify)),
            asyncio.create_task(
                pump_lines(process.stderr, self._on_stderr, self._max_line_chars, self._notify)),
        ]
        leader_exited = asyncio.Event()
        unwatch = watch_exit(process.pid, leader_exited.set)
        waiter = asyncio.create_task(process.wait())
        waiter.add_done_callback(lambda _: leader_exited.set())
        try:
            try:
                await asyncio.wait_for(leader_exited.wait(), self.spec.timeout_s)
            except TimeoutError:
                self.request_stop(RunStatus.timed_out, f"timeout of {self.spec.timeout_s:g} s reached")
                await leader_exited.wait()
            self._exited.set()
            kill_group(process.pid)  # leftovers in the group (children of a traced command)
            self.exit_code = await asyncio.shield(waiter)
        finally:
            unwatch()
            self._exited.set()
            kill_group(process.pid)
            await asyncio.wait(pumps, timeout=DRAIN_TIMEOUT_S)
            for pump in pumps:
                pump.cancel()
            self._settle()

    def stop_for(self, breach: Breach) -> None:
        """Stop the run because it crossed a limit; it ends with the breach's status (maps kept)."""
        if self._stop_status is None and not self.status.finished:
            self.breach = breach
        self.request_stop(breach.status, f"stopped: {breach.note}")

    def request_stop(self, status: RunStatus, note: str) -> None:
        """Ask the run to stop: SIGINT now (a tracer blocked on its full output pipe first gets room, see
        runs.interrupt), SIGKILL of the group if it outlives the grace period."""
        if self.status.finished or self._stop_status is not None or self._process is None:
            return
        self._run_before_stop()
        self._stop_status = status
        self.stop_note = note
        grace_s = self.spec.grace_s(self.attached_probes or 0)
        if blocked_writing_pipe(self._process.pid):  # a flood: interrupting it now would lose its maps
            asyncio.create_task(self._interrupt_then_escalate(grace_s))
        elif self.spec.interrupt_ready(self._process.pid):
            send_signal(self._process, signal.SIGINT)
            asyncio.create_task(self._escalate(grace_s))
        else:
            asyncio.create_task(self._interrupt_when_ready(grace_s))

    async def _interrupt_then_escalate(self, grace_s: float) -> None:
        assert self._process is not None
        await interrupt(self._process, lambda: self._stdout_read)
        await self._escalate(grace_s)

    async def _interrupt_when_ready(self, grace_s: float) -> None:
        """SIGINT once the tool can take it (or a grace period from now at the latest), then escalate."""
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and not self.spec.interrupt_ready(self._process.pid):
            try:
                await asyncio.wait_for(self._exited.wait(), READY_RECHECK_S)
                return
            except TimeoutError:
                if self._process.returncode is not None:
                    return
        send_signal(self._process, signal.SIGINT)
        await self._escalate(grace_s)

    async def _escalate(self, grace_s: float) -> None:
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while (remaining := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(self._exited.wait(), min(INTERRUPT_RECHECK_S, remaining))
                return
            except TimeoutError:
                if self._process.returncode is not None:  # it did exit; supervise() just has not seen it yet
                    return
                if self.spec.interrupt_lost(self._process.pid):
                    send_signal(self._process, signal.SIGINT)
        self._killed = True
        self.stop_note = f"{self.stop_note}; no exit {grace_s:.1f} s after SIGINT, process group killed"
        # Behind sudo the leader is sudo: SIGKILL would end sudo alone and leave the tracer running as root,
        # out of our reach. sudo passes SIGTERM on, so the tracer gets that first.
        send_signal(self._process, signal.SIGTERM)
        try:
            await asyncio.wait_for(self._exited.wait(), TERM_GRACE_S)
        except TimeoutError:
            pass
        kill_group(self._process.pid)

    def _run_before_stop(self) -> None:
        callbacks, self.before_stop = self.before_stop, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a measuring plugin's bug never keeps a run from stopping
                log.exception("before-stop callback failed", run=self.id)

    def _settle(self) -> None:
        self._run_before_stop()
        self.spec.decoder.finish(self)
        if self._killed:
            status = RunStatus.killed
        elif self._stop_status is not None:
            status = self._stop_status
        else:
            status = RunStatus.completed if self.exit_code == 0 else RunStatus.failed
        self.errors = self.spec.explain(self.stderr.last(STDERR_MAX_LINES), self.exit_code)
        self._ended = time.monotonic()
        self.status = status
        self._done.set()
        self._notify()

    # -- plumbing --------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_stdout(self, line: str) -> None:
        self._stdout_read += len(line) + 1
        try:
            self.spec.decoder.feed(line, self)
        except Exception:  # a decoder bug must not stop the pump (the child would block on a full pipe)
            log.exception("output decoder failed; line kept as text", run=self.id, backend=self.spec.backend)
            self.add_line(line)

    def _on_stderr(self, line: str) -> None:
        if line.strip() and self.spec.stderr_filter(line):
            self.stderr.append(clean_line(line, self._max_line_chars))

