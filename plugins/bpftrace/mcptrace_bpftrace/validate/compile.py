"""Layer 1: compile the program with the host's bpftrace without attaching anything.

bpftrace 0.17 has no --dry-run: ``-d`` parses, runs semantic analysis and code generation, prints
the AST and IR on stdout (discarded here) and stops before attaching. Newer versions' ``-d`` takes a
debug stage and their --dry-run attaches every probe, so they check with ``--emit-elf /dev/null``;
``Bpftrace.check_flags`` picks (``dry_run_flag`` below is that list). The check runs with the same
BPFTRACE_* limits and --unsafe setting the run would have, so it fails where the run would.

A check costs a bpftrace process (80-250 ms). An assistant usually validates a program and then runs
it, and exec_with_retry and templates check before running too, so the backend keeps the last results
(``CompileCache``, keyed by everything the check depends on) for a few minutes: the run after a
validation starts without a second check.

How the bpftrace process is bounded (slots, memory and CPU limits, timeout, its process group) is
``CheckLimiter``'s business (mcptrace_core.runs.checks); this module says what to run and reads the result.
"""

from __future__ import annotations

import signal
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcptrace_core.models import TraceError
from mcptrace_core.runs.checks import CheckLimiter

from mcptrace_bpftrace.stderr import HostFacts, is_noise, parse_errors, parse_warnings

CACHE_ENTRIES = 256
CACHE_TTL_S = 300.0
"""How long a result is reused: probes come and go (a uprobe's binary is replaced, a module loads)."""


@dataclass
class CompileResult:
    errors: list[TraceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exit_code: int | None = None


_OUT_OF_MEMORY = ("LLVM ERROR: out of memory", "std::bad_alloc", "Allocation failed")
"""How bpftrace (LLVM, clang, the C++ runtime) reports an allocation refused by RLIMIT_AS."""

_Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
"""bpftrace's argv and the BPFTRACE_* environment of a check."""


class CompileCache:
    """The latest compile results by argv and environment, each reused for ``CACHE_TTL_S``."""

    def __init__(self, limiter: CheckLimiter, entries: int = CACHE_ENTRIES, ttl_s: float = CACHE_TTL_S) -> None:
        self.limiter = limiter
        self._entries, self._ttl_s = entries, ttl_s
        self._results: OrderedDict[_Key, tuple[float, CompileResult]] = OrderedDict()

    async def check(
        self, command: list[str], dry_run_flag: list[str], program: str, env: Mapping[str, str], unsafe: bool,
        host: HostFacts,
    ) -> CompileResult:
        key = _key(command, dry_run_flag, program, env, unsafe)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        result = await compile_check(list(key[0]), env, host, self.limiter)
        if result.exit_code is not None:  # a timeout says nothing about the next try
            self._store(key, result)
        return result

    def __len__(self) -> int:
        return len(self._results)

    def lookup(
        self, command: list[str], dry_run_flag: list[str], program: str, env: Mapping[str, str], unsafe: bool
    ) -> CompileResult | None:
        """The recent result of this check, or None when it would have to run."""
        return self._fresh(_key(command, dry_run_flag, program, env, unsafe))

    def remember_compiled(
        self, command: list[str], dry_run_flag: list[str], program: str, env: Mapping[str, str], unsafe: bool
    ) -> None:
        """Record a clean compile seen elsewhere (a run that got past compiling), as if this check had passed."""
        self._store(_key(command, dry_run_flag, program, env, unsafe), CompileResult(exit_code=0))

    def _fresh(self, key: _Key) -> CompileResult | None:
        cached = self._results.get(key)
        if cached is None or time.monotonic() - cached[0] >= self._ttl_s:
            return None
        self._results.move_to_end(key)
        return cached[1]

    def _store(self, key: _Key, result: CompileResult) -> None:
        self._results[key] = (time.monotonic(), result)
        self._results.move_to_end(key)
        while len(self._results) > self._entries:
            self._results.popitem(last=False)


def _key(command: list[str], dry_run_flag: list[str], program: str, env: Mapping[str, str], unsafe: bool) -> _Key:
    argv = (*command, *dry_run_flag, *(["--unsafe"] if unsafe else []), "-e", program)
    return argv, tuple(sorted(env.items()))


async def compile_check(
    argv: list[str], env: Mapping[str, str], host: HostFacts, limiter: CheckLimiter
) -> CompileResult:
    """Run bpftrace's own checks; ``argv``: the privilege prefix, bpftrace's path, its dry-run flag, -e program."""
    try:
        outcome = await limiter.run(argv, env)
    except OSError as error:
        return CompileResult([TraceError(category="unsupported_feature",
                                         message=f"cannot start {argv[0]}: {error.strerror or error}")])
    if outcome.returncode is None:
        return CompileResult(
            [TraceError(category="resource", message=f"bpftrace could not check the program: {outcome.problem}",
                        hint="Simplify the program: fewer probes, smaller unrolled loops, no #include of devices.")],
        )
    out_of_memory = any(sign in outcome.stderr for sign in _OUT_OF_MEMORY)
    if outcome.returncode < 0 or (outcome.returncode != 0 and out_of_memory):
        how = "ran out of memory" if out_of_memory else f"was stopped by {signal.Signals(-outcome.returncode).name}"
        return CompileResult([TraceError(category="resource", message=(
            f"bpftrace {how} while checking the program: a check may use {limiter.settings.memory_mb} MiB of "
            f"address space (checks.memory_mb) and {limiter.settings.cpu_s:g} CPU seconds (checks.cpu_s)"),
            hint="Simplify the program: fewer probes, smaller unrolled loops, no #include of devices.")],
            exit_code=outcome.returncode)
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and not is_noise(line)]
    errors = parse_errors(lines, outcome.returncode, host) if outcome.returncode != 0 else []
    return CompileResult(errors, parse_warnings(lines), outcome.returncode)
