"""Run a tool to learn about it: read its --help, and try whether it attaches on this host.

Both run the tool the way a real run does (same command line, privilege prefix, line-buffered output),
in its own process group, with no stdin, and never longer than a timeout.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from mcptrace_bcc.discovery import ToolFile, is_python
from mcptrace_bcc.helpparse import parse_header_comment, parse_help
from mcptrace_bcc.schema import ToolSchema
from mcptrace_core.logging import get_logger
from mcptrace_core.privilege import is_sudo
from mcptrace_core.runs.process import kill_group, spawn

log = get_logger(__name__)

HELP_TIMEOUT_S = 5.0
SETTLE_S = 0.3
"""After a tool's first line of output, how long to watch for it exiting with an error anyway."""
SCRIPT_SETTLE_S = 2.0
"""Python tools may print their header before compiling their BPF program, which takes a while."""
STOP_GRACE_S = 2.0
MAX_CAPTURE_BYTES = 64 * 1024
KEPT_OUTPUT_LINES = 20


@cache
def _stdbuf() -> str | None:
    return shutil.which("stdbuf")


def command_line(tool: ToolFile, arguments: Sequence[str], prefix: Sequence[str] = ()) -> list[str]:
    """The argv that runs ``tool``: output line-buffered so each event shows up as it happens.

    Compiled tools buffer stdout in blocks when it is a pipe; ``stdbuf -oL`` makes their C library
    flush each line. Python tools get PYTHONUNBUFFERED through ``env``; behind sudo, which resets the
    environment and whose rule allows the tools alone (never ``env``), it goes on sudo's command line.
    """
    if tool.script and is_sudo(list(prefix)):
        launcher = ["PYTHONUNBUFFERED=1"]  # allowed by the env_keep of `mcptrace setup sudo`'s rule
    elif tool.script:
        launcher = ["env", "PYTHONUNBUFFERED=1"]
    else:
        stdbuf = _stdbuf()
        launcher = [stdbuf, "-oL"] if stdbuf else []
    return [*prefix, *launcher, tool.path, *arguments]


# -- --help ---------------------------------------------------------------------------------------


async def read_schema(tool: ToolFile, prefix: Sequence[str] = ()) -> ToolSchema:
    """The tool's options and arguments.

    A Python tool that does not use argparse would start tracing when given --help, so its header
    comment is read instead of running it.
    """
    if is_python(tool):
        source = _read_text(tool.path)
        if "argparse" not in source:
            return parse_header_comment(source)
    try:
        stdout, stderr = await _capture(command_line(tool, ["--help"], prefix), HELP_TIMEOUT_S)
    except OSError:
        stdout = stderr = ""
    for text in (stdout, stderr):  # argp prints help on stdout; some tools print usage on stderr
        schema = parse_help(text, tool.name)
        if schema is not None:
            return schema
    description = parse_header_comment(_read_text(tool.path)).description if is_python(tool) else ""
    return ToolSchema(description=description, style="unknown")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(256 * 1024)
    except OSError:
        return ""


async def _capture(argv: list[str], timeout_s: float) -> tuple[str, str]:
    """Run to the end (killed at the timeout); return what it printed on stdout and stderr."""
    process = await _spawn(argv)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        return "", ""
    finally:
        kill_group(process.pid)  # the guard forgets the group; nothing the tool started lives on
    return _decode(stdout), _decode(stderr)


# -- trial ----------------------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    """What happened when the tool was started for a moment."""

    attached: bool
    """Still running at the end of the trial (or printed output and kept running): it works here."""
    exit_code: int | None
    printed: bool
    """It printed a line on stdout before the trial decided."""
    stderr: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    """The first lines it printed on stdout (tools print some errors there)."""
    seconds: float = 0.0


async def trial(argv: list[str], timeout_s: float, settle_s: float = SETTLE_S) -> TrialOutcome:
    """Start the tool and see whether it attaches: a first line of output, or still running at the end.

    Tools that cannot attach here fail within about a second (measured: at most 1.1 s for the 61
    libbpf tools); those that work print their header at once, so most trials end early.
    """
    began = time.monotonic()
    try:
        process = await _spawn(argv)
    except OSError as error:
        return TrialOutcome(False, None, False, [f"cannot start {argv[0]}: {error.strerror or error}"])
    assert process.stdout is not None and process.stderr is not None
    first_line = asyncio.get_running_loop().create_future()
    output: list[str] = []
    stdout_reader = asyncio.create_task(_read_lines(process.stdout, first_line, output))
    stderr_reader = asyncio.create_task(_read_capped(process.stderr))
    exited = asyncio.create_task(process.wait())
    try:
        await asyncio.wait({exited, first_line}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if first_line.done() and not exited.done():
            await asyncio.wait({exited}, timeout=settle_s)
        attached, printed = not exited.done(), first_line.done()
        seconds = round(time.monotonic() - began, 3)
        if attached:
            await _stop(process, exited)
        kill_group(process.pid)  # whatever the tool left running holds the pipes open
        await asyncio.wait({stdout_reader, stderr_reader}, timeout=STOP_GRACE_S)
    finally:
        kill_group(process.pid)
        for task in (stdout_reader, stderr_reader, exited):
            task.cancel()
    stderr = stderr_reader.result() if stderr_reader.done() and not stderr_reader.cancelled() else b""
    return TrialOutcome(
        attached=attached,
        exit_code=None if attached else process.returncode,
        printed=printed,
        stderr=_decode(stderr).splitlines(),
        output=output,
        seconds=seconds,
    )


async def _stop(process: asyncio.subprocess.Process, exited: asyncio.Task[int]) -> None:
    """SIGINT as a person's Ctrl-C (tools then detach and print what they have), then SIGKILL."""
    try:
        process.send_signal(signal.SIGINT)
    except ProcessLookupError:
        return
    except PermissionError:  # sudo in a phase only root may signal (seen with Debian 13's sudo): let it end
        log.warning("cannot interrupt the trial through sudo; waiting for it to end", pid=process.pid)
    await asyncio.wait({exited}, timeout=STOP_GRACE_S)


async def _read_lines(stream: asyncio.StreamReader, first_line: asyncio.Future[None], kept: list[str]) -> None:
    """Read stdout to its end (a full pipe would block the tool), keeping its first non-empty lines."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line longer than the stream limit: not one to keep
            continue
        if not line:
            return
        if line.strip():
            if not first_line.done():
                first_line.set_result(None)
            if len(kept) < KEPT_OUTPUT_LINES:
                kept.append(_decode(line).rstrip())


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < MAX_CAPTURE_BYTES:
            kept += chunk[: MAX_CAPTURE_BYTES - len(kept)]
    return bytes(kept)


async def _spawn(argv: list[str]) -> asyncio.subprocess.Process:
    """Like a run: own process group, no stdin, and killed if the server dies (see runs.process)."""
    return await spawn(argv, {"LC_ALL": "C"})


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")
