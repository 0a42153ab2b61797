"""The search_history tool; registered through the ``mcptrace`` entry-point group as the ``history`` plugin."""

from __future__ import annotations

from typing import Literal

import anyio
from pydantic import Field

from mcptrace_core import hookimpl
from mcptrace_core.history.filters import TIME_RANGE, TIME_RANGE_HELP, RunFilter
from mcptrace_core.history.records import HistoryStatus
from mcptrace_core.history.search import HistoryHit
from mcptrace_core.history.store import HistoryUnavailable
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec


class SearchHistoryInput(ToolInput):
    query: str = Field(
        "",
        max_length=2000,
        description="What you are looking for, in words ('which files are opened', 'runqueue latency "
        "histogram', an error message). Empty: the most recent runs matching the filters.",
    )
    include_failed: bool = Field(
        True,
        description="Include runs that failed, were killed or interrupted, and attempts refused before they ran "
        "(invalid, blocked by the safety policy, not confirmed); they link to their fixes.",
    )
    time_range: str | None = Field(
        None, pattern=TIME_RANGE.pattern, description=f"Only runs started in {TIME_RANGE_HELP}; all when omitted."
    )
    status: HistoryStatus | None = Field(
        None, description="Only runs that ended this way; 'refused': attempts the safety gate turned down."
    )
    limit: int = Field(10, ge=1, le=100, description="Most runs to return.")


class SearchHistoryResult(ToolOutput):
    runs: list[HistoryHit] = Field(description="Best first; identical runs with the same outcome are one hit.")
    search: Literal["words+meaning", "words", "recent"] = Field(
        description="How runs were found: by words and meaning, by words only (no embedder: see note), or "
        "the most recent ones (empty query)."
    )
    note: str | None = Field(description="Why the search was narrower than asked, when it was.")

    def to_text(self) -> str:
        lines = [f"{len(self.runs)} past runs ({self.search})" + (f"; {self.note}" if self.note else "")]
        for hit in self.runs:
            head = f"{hit.id} {hit.status} {hit.when} {hit.label}"
            if hit.repeats > 1:
                head += f" (x{hit.repeats})"
            lines.append(head)
            if hit.source:
                lines.append(f"  from {hit.source}")
            if hit.error:
                lines.append(f"  error [{hit.error_category or '-'}]: {hit.error}")
            if hit.summary:
                lines.append(f"  summary: {hit.summary}")
            if hit.fixed_by or hit.likely_fixed_by:
                lines.append(f"  fixed by {hit.fixed_by or hit.likely_fixed_by}" + ("" if hit.fixed_by else " (likely)"))
                lines.extend(f"    {line}" for line in (hit.fix_program or "").splitlines())
        return "\n".join(lines)


async def search_history(call: ToolCall, args: SearchHistoryInput) -> SearchHistoryResult:
    history = call.services.history
    try:
        run_filter = RunFilter(status=args.status, include_failed=args.include_failed, time_range=args.time_range)
    except ValueError as error:
        raise ToolError(str(error)) from None
    embedder, off = call.services.embedder()
    try:
        outcome = await anyio.to_thread.run_sync(history.search, args.query, run_filter, args.limit, embedder)
    except HistoryUnavailable as error:
        raise ToolError(str(error)) from None
    notes = []
    if not args.query.strip():
        mode: Literal["words+meaning", "words", "recent"] = "recent"
    elif outcome.semantic:
        mode = "words+meaning"
        if outcome.pending_vectors:
            notes.append(f"{outcome.pending_vectors} run texts are not embedded yet and were found by words only")
    else:
        mode = "words"
        notes.append(outcome.problem or f"{off}; runs were matched by words only")
    return SearchHistoryResult(runs=outcome.hits, search=mode, note="; ".join(notes) or None)


@hookimpl
def mcptrace_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="search_history",
            title="Search past runs",
            description=(
                "Search every past run of this host (kept across restarts) by words and meaning, filtered by "
                "status and time: what was traced before, what worked, how it failed or why it was refused "
                "(status refused: invalid, blocked or not confirmed, nothing ran) and which later attempt fixed "
                "it (fixed_by, with fix_program to reuse; likely_fixed_by is a heuristic link), the example or "
                "template it came from, and its analysis summary. Identical runs with the same outcome are one "
                "hit. get_result shows the output and maps of any returned id that ran."
            ),
            input_model=SearchHistoryInput,
            output_model=SearchHistoryResult,
            handler=search_history,
            read_only=True,
            idempotent=True,
        )
    ]
