"""The vocabulary of the run manager: statuses, what a backend hands over to start a run, and errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mcptrace_core.models import TraceError, TraceTable
    from mcptrace_core.runs.run import Run


class RunStatus(str, Enum):
    running = "running"
    completed = "completed"
    """Exited on its own with status 0."""
    failed = "failed"
    """Exited on its own with a non-zero status (or could not start)."""
    stopped = "stopped"
    """Stopped on request; its final maps were printed."""
    timed_out = "timed_out"
    """Stopped when its timeout expired; its final maps were printed."""
    killed = "killed"
    """Did not exit within the grace period after SIGINT and was killed; maps may be missing."""
    interrupted = "interrupted"
    """Still running when the server went away (reported from history after a restart)."""
    over_budget = "over_budget"
    """Stopped (maps kept) because its measured overhead crossed its budget (CPU share, events/s, map memory)."""
    output_limited = "output_limited"
    """Stopped (maps kept) because it printed more lines or bytes per second than the policy allows."""

    @property
    def finished(self) -> bool:
        return self is not RunStatus.running


class OutputDecoder(Protocol):
    """Turns a backend's raw stdout lines into text lines, maps and counters on the run."""

    def feed(self, line: str, run: Run) -> None:
        """Interpret one stdout line (without its newline)."""

    def finish(self, run: Run) -> None:
        """Flush anything held back (a printf without a trailing newline)."""


class PlainTextDecoder:
    """Every stdout line is an output line: for tools with no structured output."""

    def feed(self, line: str, run: Run) -> None:
        run.add_line(line)

    def finish(self, run: Run) -> None:
        return None


def program_label(program: str) -> str:
    """How a program is named in listings: its first non-blank line, cut at 120 characters."""
    return next((line.strip() for line in program.splitlines() if line.strip()), "")[:120]


@dataclass(frozen=True)
class ValidationSummary:
    """What validation said of a program before it ran (or was refused), as the history keeps it."""

    verdict: str
    """allow, confirm or block, under the policy in force."""
    findings: tuple[dict[str, Any], ...] = ()
    """The safety findings, JSON-ready (rule, severity, message, line, col, fix, requires_unsafe)."""


@dataclass(frozen=True)
class RunBudget:
    """The runtime limits of a run, enforced by the run manager's watchdog (mcptrace_core.runs.watch).

    None means no limit. The policies in force set them (smallest wins); a caller may only lower them.
    """

    source: str
    """Where the limits come from, for the stop note: e.g. 'policy standard'."""
    window_s: float = 2.0
    """Rates and CPU shares are averaged over this many seconds before they are judged."""
    max_cpu_pct: float | None = None
    """Share of the whole machine's CPU (all cores) the run's BPF programs and its process may use."""
    max_events_per_s: float | None = None
    """BPF program runs per second, all programs of the run together."""
    max_map_bytes: int | None = None
    """Locked memory of the run's BPF maps."""
    max_output_lines_per_s: float | None = None
    max_output_bytes_per_s: float | None = None
    cpu_source: str | None = None
    """Where max_cpu_pct comes from when a caller set it lower than the policy (e.g. 'max_overhead_pct')."""


@dataclass
class RunSpec:
    """What a backend hands to the run manager to start a run."""

    argv: list[str]
    backend: str
    label: str
    """What the run is, for listings: a program's first line, a tool name and its arguments."""
    timeout_s: float
    decoder: OutputDecoder = field(default_factory=PlainTextDecoder)
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the server's environment for this run (e.g. BPFTRACE_* limits)."""
    stderr_filter: Callable[[str], bool] = lambda line: True
    """False for a stderr line that is known to be harmless noise."""
    grace_s: Callable[[int], float] = lambda attached_probes: 5.0
    """Seconds to wait after SIGINT before SIGKILL, given the number of attached probes."""
    interrupt_lost: Callable[[int], bool] = lambda pid: False
    """Asked during the grace period with the process id: True when the tool dropped the SIGINT and can take
    another one (bpftrace 0.17 drops one that arrives while it attaches, then sleeps until its next event)."""
    interrupt_ready: Callable[[int], bool] = lambda pid: True
    """Asked with the process id before the first SIGINT of a stop: False while the tool cannot take one
    yet (bpftrace 0.23 exits 255 without its maps on a SIGINT while it attaches); the SIGINT then waits,
    at most a grace period, until it can."""
    program: str | None = None
    """The program text, when the backend runs one; kept for results and history."""
    explain: Callable[[Sequence[str], int | None], list[TraceError]] = lambda stderr, exit_code: []
    """Turns the kept stderr lines and the exit code of an unsuccessful run into structured errors."""
    chain_id: str | None = None
    """The exec_with_retry chain this run belongs to: the attempts at one task, fixed one after another."""
    attempt: int | None = None
    """Which attempt of its chain this run is (1 for the first)."""
    page_tables: Callable[[int, Sequence[str]], list[TraceTable]] = lambda offset, lines: []
    """The column tables among the output lines ``offset..``, for tools that print tables (BCC)."""
    source: str | None = None
    """The example or template the program came from, when it is one (mcptrace_core.sources)."""
    validation: ValidationSummary | None = None
    """What validation said before the run was allowed; set by the backend's gate."""
    confirmed_by: str | None = None
    """Who confirmed the run when a policy asked, with the client's name and the transport; set from the gate."""
    budget: RunBudget | None = None
    """Runtime limits the watchdog enforces (output rate, overhead); set by the backend's gate."""


class RunLimitError(Exception):
    """The concurrency limit is reached."""


class RunNotFoundError(Exception):
    """No run has this id (never existed, or expired)."""


class RunStartError(Exception):
    """The process could not be started (missing executable, permission)."""
