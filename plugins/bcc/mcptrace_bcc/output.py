"""A BCC run's output as it streams: every line kept as text, histograms and tables from the analyzer.

BCC tools have no JSON output. Their histograms and column tables are read by the output analyzer of
kind 'bcc' (the one analyze_output uses), fed the lines as they arrive through its ``OutputStream``:

- each histogram printout becomes a TraceMap of kind 'hist' on the run (keyed by its 'pid = 42' style
  label; a later printout replaces the earlier one), so get_result shows the latest while the tool runs;
  a map that grows between batches has only its new entries converted;
- of each table only where its rows are is remembered (the header's line and runs of row lines), and
  the rows of a page are parsed when the page is read, by the same analyzer: rows cost no memory beyond
  their lines and page exactly like them.

Lines reach the analyzer in batches: every ``BATCH_LINES`` lines, at a blank line (which ends a
printout) when ``FLUSH_INTERVAL_S`` has passed since the last batch, when a page is read (get_result
reads its page's tables before the maps, so it always sees the latest printout) and at the end. Each
batch converts the maps it touched whole, so batches are spaced in time: a tool printing thousands of
keyed histograms a second would otherwise pay for the analyzer call at every blank line.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcptrace_core.analysis import EventTable, ParsedMap, ParsedOutput
from mcptrace_core.interfaces import Analyzer, OutputStream
from mcptrace_core.logging import get_logger
from mcptrace_core.models import MapEntry, TableRow, TraceMap, TraceTable

if TYPE_CHECKING:
    from mcptrace_core.runs.run import Run

log = get_logger(__name__)

BATCH_LINES = 256
FLUSH_INTERVAL_S = 0.5
MAX_PRINTOUTS = 10_000
"""Table printouts remembered (their positions only); the oldest are forgotten first."""


@dataclass
class _Printout:
    """One printout of a table: its header line and the runs of lines that are its rows."""

    header_line: int
    header: str
    rows: list[tuple[int, int]] = field(default_factory=list)
    """[start, stop) runs of row lines, in order."""

    def lines_within(self, start: int, stop: int) -> list[int]:
        return [line for a, b in self.rows for line in range(max(a, start), min(b, stop))]


class BccOutputDecoder:
    """OutputDecoder for BCC tools: text lines, histograms as maps, tables as rows of the page read."""

    def __init__(self, analyzer: Analyzer, stream: OutputStream) -> None:
        self._analyzer = analyzer
        self._stream: OutputStream | None = stream
        self._pending: list[str] = []
        self._printouts: list[_Printout] = []
        self._run: Run | None = None
        self._flushed_at = 0.0
        self._converted: dict[str, tuple[ParsedMap, list[MapEntry]]] = {}
        """Per map: the analyzer's map last converted and its entries so far (it only grows)."""

    # -- OutputDecoder ---------------------------------------------------------------------------

    def feed(self, line: str, run: Run) -> None:
        self._run = run
        if self._stream is not None:
            self._pending.append(line)
            if len(self._pending) >= BATCH_LINES or (
                not line.strip() and time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S
            ):
                self._flush(run)
        run.add_line(line)

    def finish(self, run: Run) -> None:
        self._flush(run, final=True)

    # -- pages -----------------------------------------------------------------------------------

    def page_tables(self, offset: int, lines: Sequence[str]) -> list[TraceTable]:
        """The tables among lines ``offset .. offset+len(lines)-1``, with their rows parsed."""
        if self._run is not None:
            self._flush(self._run)  # rows printed since the last batch show as soon as they are read
        stop = offset + len(lines)
        tables = []
        for printout in self._printouts:
            if printout.header_line >= stop or printout.rows[-1][1] <= offset:
                continue
            numbered = [(index, lines[index - offset]) for index in printout.lines_within(offset, stop)]
            table = self._table(printout, numbered)
            if table is not None:
                tables.append(table)
        return tables

    def _table(self, printout: _Printout, numbered: list[tuple[int, str]]) -> TraceTable | None:
        """Parse the header and these row lines together, so each column is typed over the page."""
        if not numbered:
            return None
        try:
            parsed = self._analyzer.parse("\n".join([printout.header, *(text for _, text in numbered)]))
        except Exception:  # isolation boundary: a failing analyzer leaves the lines as text
            log.exception("table rows could not be parsed", analyzer=self._analyzer.name)
            return None
        table = next((table for table in parsed.tables if table.header is not None), None)
        if table is None:
            return None
        positions = [line - 1 for run in table.row_runs for line in range(run.start, run.stop)]
        rows = [TableRow(line=numbered[position][0], values=_values(table, row)) for row, position in enumerate(positions)]
        return TraceTable(columns=[column.name for column in table.columns], header_line=printout.header_line, rows=rows)

    # -- the stream ------------------------------------------------------------------------------

    def _flush(self, run: Run, final: bool = False) -> None:
        if self._stream is None:
            return
        self._flushed_at = time.monotonic()
        try:
            if self._pending:
                self._stream.feed(self._pending)
            taken = self._stream.take(final)
        except Exception:  # isolation boundary: the run keeps its lines, only their structure is lost
            log.exception("output analyzer failed; the run's output stays plain text", analyzer=self._analyzer.name)
            self._stream = None
            return
        finally:
            self._pending = []
        self._absorb(taken, run)

    def _absorb(self, taken: ParsedOutput, run: Run) -> None:
        for parsed_map in taken.maps:
            run.set_map(self._trace_map(parsed_map))
        run.lost_events += taken.lost_events
        # in line order: rows always belong to the latest header printout before them
        found = sorted((row_run, table.header or "") for table in taken.tables for row_run in table.row_runs)
        for (header_line, start, stop), header in found:
            self._remember(header, header_line, start, stop)

    def _trace_map(self, parsed: ParsedMap) -> TraceMap:
        """The map as a TraceMap, converting only the entries added since the last batch: the analyzer
        hands over the same growing map until a printout starts a new one."""
        known = self._converted.get(parsed.name)
        entries = known[1] if known is not None and known[0] is parsed else []
        entries = entries + parsed.to_trace_map(list(range(len(entries), len(parsed.keys)))).entries
        self._converted[parsed.name] = (parsed, entries)
        return TraceMap(name=parsed.name, kind=parsed.kind, entries=entries)

    def _remember(self, header: str, header_line: int, start: int, stop: int) -> None:
        printouts = self._printouts
        if not printouts or printouts[-1].header_line != header_line:
            printouts.append(_Printout(header_line, header))
            del printouts[:-MAX_PRINTOUTS]
        rows = printouts[-1].rows
        if rows and rows[-1][1] == start:
            rows[-1] = (rows[-1][0], stop)
        else:
            rows.append((start, stop))


def _values(table: EventTable, row: int) -> dict[str, str | int | float]:
    return {column.name: column.values[row] for column in table.columns if column.values[row] is not None}
