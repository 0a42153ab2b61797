"""The one place a generated program is checked: the seam to validate_program.

Every program generate_from_template returns goes through ``validate`` (and only through it), so when
the full validate_program (parse, compile, probes, safety policy) is available this module is the only
thing to change: make ``Validation`` its report model and ``validate`` call it. Until then ``validate``
runs bpftrace's own compile check (``-d`` in 0.17, ``--dry-run`` later), which parses, type-checks
against this host's tracepoints and BTF, and attaches nothing, and turns bpftrace's diagnostics into
structured errors with the backend's own parser.

Running a generated program is not done here: the caller passes it to exec_program, which applies the
run limits (and the safety policy) to it like to any other program.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from mcptrace_core.models import Model, TraceError
from mcptrace_core.privilege import PrivilegeError
from mcptrace_core.textsafety import clean_line
from mcptrace_core.tools import ToolCall

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.executable import BpftraceMissing
from mcptrace_bpftrace.stderr import is_noise, parse_errors

CHECK_TIMEOUT_S = 30.0
MAX_DIAGNOSTIC_CHARS = 1000


class ProgramCheck(Model):
    """What checking a generated program found; the field names are those of validate_program's report."""

    valid: bool = Field(description="bpftrace accepted the program on this host (compiled, nothing attached).")
    errors: list[TraceError] = Field(default_factory=list, description="Why it would not run, with hints.")
    warnings: list[str] = Field(default_factory=list, description="What bpftrace warned about (e.g. an untraceable function).")


Validation = ProgramCheck
"""The validation result generate_from_template returns (validate_program's report, once merged)."""


async def validate(call: ToolCall, program: str) -> Validation:
    """Check ``program`` on this host without running it."""
    backend: BpftraceBackend = call.services.backend("bpftrace")
    try:
        argv = [*backend.command(), *backend.executable().dry_run_flag, "-e", program]
    except (BpftraceMissing, PrivilegeError) as error:
        return ProgramCheck(valid=False, errors=[TraceError(
            category="unsupported_feature", message=f"the program could not be checked: {error}",
            hint="Install bpftrace and run mcptrace as root (bpf_info says what is missing).",
        )])
    stderr, exit_code = await _run(argv)
    lines = [clean_line(line, MAX_DIAGNOSTIC_CHARS) for line in stderr.splitlines() if line.strip() and not is_noise(line)]
    errors = parse_errors(lines, exit_code, backend.host_facts()) if exit_code != 0 else []
    warnings = [line for line in lines if "WARNING" in line]
    return ProgramCheck(valid=exit_code == 0 and not errors, errors=errors, warnings=warnings)


async def _run(argv: list[str]) -> tuple[str, int | None]:
    """Run the check; its AST dump on stdout is discarded, its diagnostics on stderr are returned."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), CHECK_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return f"ERROR: bpftrace did not finish checking the program in {CHECK_TIMEOUT_S:g} s", 1
    finally:
        if process.returncode is None:  # cancelled while waiting: leave nothing behind
            process.kill()
    return stderr.decode("utf-8", "replace"), process.returncode
