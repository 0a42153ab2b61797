"""Layer 1: compile the program with the host's bpftrace without attaching anything.

bpftrace 0.17 has no --dry-run: ``-d`` parses, runs semantic analysis and code generation, prints
the AST and IR on stdout (discarded here) and stops before attaching. Newer versions use --dry-run
(their -d takes a debug stage); ``Bpftrace.dry_run_flag`` picks. The check runs with the same
BPFTRACE_* limits and --unsafe setting the run would have, so it fails where the run would.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcptrace_core.models import TraceError

from mcptrace_bpftrace.stderr import HostFacts, is_noise, parse_errors, parse_warnings

COMPILE_TIMEOUT_S = 30.0


@dataclass
class CompileResult:
    errors: list[TraceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exit_code: int | None = None


async def compile_check(
    command: list[str], dry_run_flag: list[str], program: str, env: Mapping[str, str], unsafe: bool, host: HostFacts
) -> CompileResult:
    """Run bpftrace's own checks on ``program``; ``command`` is the privilege prefix and bpftrace's path."""
    argv = [*command, *dry_run_flag, *(["--unsafe"] if unsafe else []), "-e", program]
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
