"""Follow a run for a waiting caller: new output goes out as MCP progress notifications.

Cancelling the waiting call (the client gives up) stops the run, so nothing keeps tracing unseen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from mcptrace_core.runs.models import RunStatus
from mcptrace_core.runs.results import ExecutionResult, execution_result
from mcptrace_core.runs.run import Run
from mcptrace_core.tools import ToolCall

POLL_S = 1.0
MIN_INTERVAL_S = 0.2
MAX_MESSAGE_CHARS = 8192
MAX_LINES_PER_MESSAGE = 200
WAIT_RESULT_LINES = 500


async def respond(call: ToolCall, run: Run, wait: bool) -> ExecutionResult:
    """What a tool that starts a run returns: the run at once, or (``wait``) its end and last lines."""
    if wait:
        await follow(call, run)
        return execution_result(run, max(0, run.output.total - WAIT_RESULT_LINES), WAIT_RESULT_LINES)
    return execution_result(run, 0, 0)


@asynccontextmanager
async def stopped_if_abandoned(run: Run) -> AsyncIterator[None]:
    """Stop ``run`` (maps kept) when the block is left early: the call that started it was cancelled, or
    failed, before its caller learnt of it or while it waited, so nobody would see the run's output."""
    try:
        yield
    except BaseException:
        if not run.status.finished:
            with anyio.CancelScope(shield=True):
                run.request_stop(RunStatus.stopped, "the waiting call was cancelled")
                await run.wait_done()
        raise


async def follow(call: ToolCall, run: Run) -> None:
    """Return when the run ends, streaming its new lines as progress on the way."""
    sent = 0
    async with stopped_if_abandoned(run):
        while not run.status.finished:
            await run.wait_changed(POLL_S)
            sent = await _send_new_lines(call, run, sent)
            await run.wait_done(MIN_INTERVAL_S)  # pace the notifications, but not past the end
        while sent < run.output.total:
            before = sent
            sent = await _send_new_lines(call, run, sent)
            if sent == before:
                break


async def _send_new_lines(call: ToolCall, run: Run, sent: int) -> int:
    if sent >= run.output.total:
        return sent
    page = run.output.page(sent, MAX_LINES_PER_MESSAGE)
    text = "\n".join(page.lines)
    if page.skipped:
        text = f"[{page.skipped} lines dropped by the output cap]\n{text}"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "\n[cut; get_result has every kept line]"
    await call.report_progress(page.offset + len(page.lines), None, text)
    return page.offset + len(page.lines)
