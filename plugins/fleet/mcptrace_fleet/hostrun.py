"""One host's part of a fleet run: connect, start the remote wrapper, pump its output, stop it, settle.

A HostRun has the shape of a local run (the ``RunView`` of mcptrace_core.runs.results) so the backends'
own decoders feed it (bpftrace's JSON decoder fills lines and maps exactly as for a local run) and one
host's page is shown by the same ``execution_result`` as a local run. Lines also go to the fleet's
interleaved output, prefixed with the host name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mcptrace_core.config import RunSettings
from mcptrace_core.logging import get_logger
from mcptrace_core.models import TraceError, TraceMap
from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.runs.lines import pump_lines
from mcptrace_core.runs.models import RunSpec, RunStatus
from mcptrace_core.runs.overhead import LimitCrossed, RunOverhead
from mcptrace_core.textsafety import clean_line

from mcptrace_fleet.inventory import Host
from mcptrace_fleet.ssh import ConnectError, SshFiles, connect
from mcptrace_fleet.wrapper import KILL, STOP, payload, remote_command

log = get_logger(__name__)

STDERR_MAX_LINES = 200
STOP_MARGIN_S = 5.0
"""Beyond the grace period, for the round trip and for the remote wrapper to exit after SIGKILL."""
SUDO_HINT = (
    "the login is not root and `sudo -n` refused it: give {user} a NOPASSWD sudoers rule (the wrapper runs "
    "as `sudo -n sh -c ...`), or log in as root"
)


class HostRun:
    """State of one host's run; ``error`` is set when the host never ran (unreachable, refused)."""

    def __init__(self, run_id: str, host: Host, spec: RunSpec, limits: RunSettings,
                 on_line: Callable[[str, str], None]) -> None:
        self.id = run_id
        self.host = host
        self.spec = spec
        self.status = RunStatus.running
        self.phase = "connecting"
        self.output = OutputBuffer(limits.max_output_lines, limits.max_output_bytes)
        self.stderr = OutputBuffer(STDERR_MAX_LINES, 64 * 1024)
        self.maps: dict[str, TraceMap] = {}
        self.map_version = 0
        """Grows with every map printout, so the fleet merges again only when something changed."""
        self.attached_probes: int | None = None
        self.lost_events = 0
        self.exit_code: int | None = None
        self.errors: list[TraceError] = []
        self.error: str | None = None
        self.stop_note: str | None = None
        self.overhead: RunOverhead | None = None
        """Not measured: the overhead plugin reads the fdinfo of local tracers only."""
        self.limit_crossed: LimitCrossed | None = None
        self.login: str | None = None
        self.started_at = time.time()
        self._started = time.monotonic()
        self._ended: float | None = None
        self._max_line = limits.max_line_bytes
        self._on_line = on_line
        self._process: Any = None
        self._escalation: asyncio.Task[None] | None = None
        self._stop_status: RunStatus | None = None
        self._exited = asyncio.Event()
        self.attached = asyncio.Event()
        self.done = asyncio.Event()

    # -- fed by the backend's decoder -------------------------------------------------------------

    def add_line(self, text: str) -> None:
        line = clean_line(text, self._max_line)
        self.output.append(line)
        self._on_line(self.host.name, line)
        if self.attached_probes is not None:
            self.attached.set()

    def set_map(self, trace_map: TraceMap) -> None:
        self.maps[trace_map.name] = trace_map
        self.map_version += 1

    @property
    def duration_s(self) -> float:
        end = self._ended if self._ended is not None else time.monotonic()
        return round(end - self._started, 3)

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self, files: SshFiles, connect_timeout_s: float, argv: list[str], program: str | None,
                  env: dict[str, str], tag: str, gate: asyncio.Semaphore) -> None:
        """Connect, run, and settle; never raises (a host's failure is its status and error).

        ``gate`` bounds how many hosts connect and start at once; a started host releases it.
        """
        try:
            await self._run(files, connect_timeout_s, argv, program, env, tag, gate)
        except Exception as error:  # a surprise on one host stays that host's failure
            log.exception("fleet host run failed", host=self.host.name)
            if not self.done.is_set():
                self._fail(f"{type(error).__name__}: {error}", "internal")
        finally:
            if not self.done.is_set():  # cancelled: the connection is closed, so the remote side kills the run
                self._fail("the run was cancelled (server shutting down)")

    async def _run(self, files: SshFiles, connect_timeout_s: float, argv: list[str], program: str | None,
                   env: dict[str, str], tag: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            if self._stop_status is not None:  # stopped before it started
                self._fail("stopped before the host was reached")
                return
            try:
                connection = await connect(self.host, files, connect_timeout_s)
            except ConnectError as error:
                self._fail(str(error), error.category)
                return
            self.login = connection.get_extra_info("username")
            command = remote_command(tag, argv, env, sudo=self.login != "root")
            try:
                self._process = await connection.create_process(command, encoding=None)
            except Exception as error:
                connection.close()
                self._fail(f"cannot start the remote command: {error}")
                return
            self.phase = "running"
            self._process.stdin.write(payload(program))
            if self._stop_status is not None:  # asked to stop while it connected
                self._send_stop()
        async with connection:
            await self._supervise()

    async def _supervise(self) -> None:
        process = self._process
        pumps = [asyncio.create_task(pump_lines(process.stdout, self._on_stdout, self._max_line)),
                 asyncio.create_task(pump_lines(process.stderr, self._on_stderr, self._max_line))]
        try:
            try:
                await asyncio.wait_for(process.wait_closed(), self.spec.timeout_s)
            except TimeoutError:
                self.request_stop(RunStatus.timed_out, f"timeout of {self.spec.timeout_s:g} s reached")
                await process.wait_closed()
            await asyncio.wait(pumps, timeout=2.0)
        finally:
            for pump in pumps:
                pump.cancel()
            self._exited.set()
            self._settle(process.exit_status, process.exit_signal)

    def request_stop(self, status: RunStatus, note: str) -> None:
        """SIGINT on the host (maps are printed), SIGKILL of the remote group after the grace period."""
        if self.done.is_set() or self._stop_status is not None:
            return
        self._stop_status = status
        self.stop_note = note
        if self._process is not None:
            self._send_stop()

    def _send_stop(self) -> None:
        try:
            self._process.stdin.write(STOP)
        except Exception:  # the channel is already closing: the wrapper has ended or is killing the group
            return
        self._escalation = asyncio.get_running_loop().create_task(
            self._escalate(self.spec.grace_s(self.attached_probes or 0)))

    async def _escalate(self, grace_s: float) -> None:
        try:
            await asyncio.wait_for(self._exited.wait(), grace_s)
            return
        except TimeoutError:
            pass
        self.stop_note = f"{self.stop_note}; no exit {grace_s:.1f} s after SIGINT, remote process group killed"
        self._stop_status = RunStatus.killed
        try:
            self._process.stdin.write(KILL)
            await asyncio.wait_for(self._exited.wait(), STOP_MARGIN_S)
        except Exception:  # timed out, or the channel broke
            self._process.close()  # closing the channel is end of file for the wrapper: it kills the group

    def _fail(self, message: str, category: str = "resource") -> None:
        """The host never ran: unreachable, refused (category 'permission'), or stopped first."""
        self.error = message
        self.phase = "ended"
        self._ended = time.monotonic()
        self.status = RunStatus.failed
        self.errors = [TraceError(category=category, message=message)]  # type: ignore[arg-type]
        self.attached.set()
        self.done.set()

    def _settle(self, exit_status: int | None, exit_signal: Any) -> None:
        self.spec.decoder.finish(self)  # type: ignore[arg-type]
        self.exit_code = exit_status if exit_status is not None and exit_status >= 0 else None
        if self.exit_code is None and exit_signal:
            self.exit_code = -1
        if self._stop_status is not None:
            status = self._stop_status
        else:
            status = RunStatus.completed if self.exit_code == 0 else RunStatus.failed
        stderr = self.stderr.last(STDERR_MAX_LINES)
        sudo_refused = [line for line in stderr if line.startswith("sudo:")]
        if sudo_refused and status is RunStatus.failed:
            self.error = f"{sudo_refused[0]}; " + SUDO_HINT.format(user=self.login)
            self.errors = [TraceError(category="permission", message=self.error)]
        else:
            self.errors = self.spec.explain(stderr, self.exit_code)
            if status is RunStatus.failed:
                self.error = self.errors[0].message if self.errors else (
                    stderr[-1] if stderr else f"exited with status {self.exit_code}")
        self.phase = "ended"
        self._ended = time.monotonic()
        self.status = status
        self.attached.set()
        self.done.set()

    def _on_stdout(self, line: str) -> None:
        try:
            self.spec.decoder.feed(line, self)  # type: ignore[arg-type]
        except Exception:
            log.exception("output decoder failed; line kept as text", host=self.host.name)
            self.add_line(line)

    def _on_stderr(self, line: str) -> None:
        if line.strip() and self.spec.stderr_filter(line):
            self.stderr.append(clean_line(line, self._max_line))
