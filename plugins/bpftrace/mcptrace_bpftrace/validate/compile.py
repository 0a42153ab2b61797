"""Layer 1: compile the program with the host's bpftrace without attaching anything.

bpftrace 0.17 has no --dry-run: ``-d`` parses, runs semantic analysis and code generation, prints
the AST and IR on stdout (discarded here) and stops before attaching. Newer versions use --dry-run
(their -d takes a debug stage); ``Bpftrace.dry_run_flag`` picks. The check runs with the same
BPFTRACE_* limits and --unsafe setting the run would have, so it fails where the run would.

A check costs a bpftrace process (80-250 ms). An assistant usually validates a program and then runs
it, and exec_with_retry and templates check before running too, so the backend keeps the last results
(``CompileCache``, keyed by everything the check depends on) for a few minutes: the run after a
validation starts without a second check.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcptrace_core.models import TraceError

from mcptrace_bpftrace.stderr import HostFacts, is_noise, parse_errors, parse_warnings

COMPILE_TIMEOUT_S = 30.0
CACHE_ENTRIES = 256
CACHE_TTL_S = 300.0
"""How long a result is reused: probes come and go (a uprobe's binary is replaced, a module loads)."""


@dataclass
class CompileResult:
    errors: list[TraceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exit_code: int | None = None


_Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
"""bpftrace's argv and the BPFTRACE_* environment of a check."""


class CompileCache:
    """The latest compile results by argv and environment, each reused for ``CACHE_TTL_S``."""

    def __init__(self, entries: int = CACHE_ENTRIES, ttl_s: float = CACHE_TTL_S) -> None:
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
        result = await compile_check(list(key[0]), env, host)
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


async def compile_check(argv: list[str], env: Mapping[str, str], host: HostFacts) -> CompileResult:
    """Run bpftrace's own checks; ``argv``: the privilege prefix, bpftrace's path, its dry-run flag, -e program."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env else None,
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), COMPILE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return CompileResult(
            [TraceError(category="resource", message=f"bpftrace did not finish checking the program in "
                        f"{COMPILE_TIMEOUT_S:g} s", hint="Simplify the program: fewer probes, smaller unrolled loops.")],
        )
    finally:
        if process.returncode is None:  # cancelled while waiting: do not leave bpftrace behind
            process.kill()
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip() and not is_noise(line)]
    errors = parse_errors(lines, process.returncode, host) if process.returncode != 0 else []
    return CompileResult(errors, parse_warnings(lines), process.returncode)
