"""Find a run by its execution_id: the live one of this server, else the one the history kept.

get_result and analyze_output both read runs this way, so a run of an earlier server process (or one
expired from memory) reads the same in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from mcptrace_core.history.records import REFUSED, RunRecord, StoredRun
from mcptrace_core.history.store import HistoryStore, HistoryUnavailable
from mcptrace_core.runs.models import RunNotFoundError
from mcptrace_core.runs.run import Run
from mcptrace_core.tools import ToolError

if TYPE_CHECKING:
    from mcptrace_core.services import Services


async def find_run(services: Services, execution_id: str) -> Run | StoredRun:
    """The run called ``execution_id``; a ToolError saying why when there is none to read."""
    try:
        return services.runs.get(execution_id)
    except RunNotFoundError as error:
        not_found = str(error)
    record = await anyio.to_thread.run_sync(_load, services.history, execution_id)
    if record is None:
        raise ToolError(not_found)
    if record.status == REFUSED:
        raise ToolError(
            f"execution {execution_id!r} never ran: the safety gate refused it ({record.error_message}); "
            "search_history shows the attempt, and the one that fixed it"
        )
    return record.view()


def _load(history: HistoryStore, execution_id: str) -> RunRecord | None:
    try:
        return history.load(execution_id)
    except HistoryUnavailable:
        return None
