"""Structure in a BCC tool's text output: column tables and ``usecs : count distribution`` histograms.

BCC tools have no JSON output. This decoder keeps every line as text (the run's output, paged by
get_result) and recognises two shapes as they stream by:

- a histogram (a ``<unit> : count distribution`` header, then ``low -> high : count |***|`` rows,
  optionally preceded by a label line such as ``pid = 42``) becomes a TraceMap of kind 'hist' on the
  run, keyed by its label; a later printout with the same label starts a fresh map (latest wins);
- a column table (a header of upper-case column names, then rows until a blank line) is remembered
  as a span of lines, and the rows of a page are parsed when the page is read, so rows cost no memory
  beyond the lines themselves and page exactly like them.

NOTE for the merge: this is the BCC backend's own small parser, kept in this one module on purpose.
When the analyzers plugin lands, ``BccOutputDecoder`` should delegate histogram and table recognition
to it (by analyzer kind), keeping this class as the seam the run manager sees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcptrace_core.models import HistBucket, MapEntry, TableRow, TraceMap, TraceTable

if TYPE_CHECKING:
    from mcptrace_core.runs.run import Run

_HIST_HEADER = re.compile(r"^\s*(?P<unit>\S.*?)\s+:\s+count\s+distribution\s*$")
_LOG2_ROW = re.compile(r"^\s*(?P<low>\d+)\s*->\s*(?P<high>\d+)\s*:\s*(?P<count>\d+)\s*\|")
_LINEAR_ROW = re.compile(r"^\s*(?P<low>\d+)\s*:\s*(?P<count>\d+)\s*\|")
_LABEL = re.compile(r"^\s*(?P<key>[A-Za-z][\w .-]*?)\s*=\s*(?P<value>\S.*?)\s*$")
_COLUMN = re.compile(r"^(?=.*[A-Z])[%A-Z][A-Za-z0-9_()%/.:#-]*$")
_NOT_A_ROW = re.compile(r"^(Detaching|Tracing|Exiting|Hit Ctrl-C|Ctrl-C|\[\d\d:\d\d:\d\d\])")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d+$")
MAX_TABLE_SPANS = 10_000


@dataclass
class _TableSpan:
    header_line: int
    columns: list[str]
    end_line: int | None = None
    """Index of the first line after the table; None while it is still growing."""


class BccOutputDecoder:
    """OutputDecoder for BCC tools: text lines, histograms as maps, tables as spans of lines."""

    def __init__(self) -> None:
        self._spans: list[_TableSpan] = []
        self._open_span: _TableSpan | None = None
        self._hist: tuple[str, str | None, list[HistBucket]] | None = None
        self._label: str | None = None
        self._printed: dict[str, set[str | None]] = {}

    # -- OutputDecoder ---------------------------------------------------------------------------

    def feed(self, line: str, run: Run) -> None:
        index = run.output.total
        run.add_line(line)
        if self._hist is not None and self._hist_row(line):
            return
        self._close_hist(run)
        header = _HIST_HEADER.match(line)
        if header:
            self._close_table(index)
            self._hist = (header["unit"].strip(), self._label, [])
            self._label = None
            return
        if not line.strip() or _NOT_A_ROW.match(line.strip()):
            self._close_table(index)
            return
        columns = _columns(line)
        if columns is not None and (self._open_span is None or columns != self._open_span.columns):
            self._close_table(index)
            self._open_span = _TableSpan(index, columns)
            self._spans.append(self._open_span)
            del self._spans[:-MAX_TABLE_SPANS]
            return
        label = _LABEL.match(line)
        self._label = f"{label['key']} = {label['value']}" if label and self._open_span is None else None

    def finish(self, run: Run) -> None:
        self._close_hist(run)
        self._close_table(run.output.total)

    # -- pages -----------------------------------------------------------------------------------

    def page_tables(self, offset: int, lines: Sequence[str]) -> list[TraceTable]:
        """The tables among lines ``offset .. offset+len(lines)-1``, with their rows parsed."""
        end = offset + len(lines)
        tables = []
        for span in self._spans:
            span_end = span.end_line if span.end_line is not None else end
            first, last = max(offset, span.header_line + 1), min(end, span_end)
            if first >= last:
                continue
            rows = [TableRow(line=index, values=_row(span.columns, lines[index - offset]))
                    for index in range(first, last)]
            tables.append(TraceTable(columns=span.columns, header_line=span.header_line, rows=rows))
        return tables

    # -- histograms ------------------------------------------------------------------------------

    def _hist_row(self, line: str) -> bool:
        assert self._hist is not None
        buckets = self._hist[2]
        log2 = _LOG2_ROW.match(line)
        if log2:
            buckets.append(HistBucket(low=int(log2["low"]), high=int(log2["high"]) + 1, count=int(log2["count"])))
            return True
        linear = _LINEAR_ROW.match(line)
        if linear:
            low = int(linear["low"])
            if buckets and buckets[-1].high is None:
                buckets[-1] = buckets[-1].model_copy(update={"high": low})
            buckets.append(HistBucket(low=low, high=None, count=int(linear["count"])))
            return True
        return False

    def _close_hist(self, run: Run) -> None:
        if self._hist is None:
            return
        unit, label, buckets = self._hist
        self._hist = None
        if not buckets:
            return
        if buckets[-1].high is None and len(buckets) > 1:  # linear: the last bucket is as wide as the others
            step = buckets[-1].low - buckets[-2].low  # type: ignore[operator]
            buckets[-1] = buckets[-1].model_copy(update={"high": buckets[-1].low + step})  # type: ignore[operator]
        printed = self._printed.setdefault(unit, set())
        previous = run.maps.get(unit)
        if label in printed or previous is None:  # a new printout of this histogram starts a fresh map
            printed.clear()
            entries = []
        else:
            entries = list(previous.entries)
        printed.add(label)
        entries.append(MapEntry(key=label, buckets=buckets))
        run.set_map(TraceMap(name=unit, kind="hist", entries=entries))

    def _close_table(self, index: int) -> None:
        if self._open_span is not None:
            self._open_span.end_line = index
            self._open_span = None


def _columns(line: str) -> list[str] | None:
    """The column names when ``line`` is a table header (two or more upper-case names)."""
    tokens = line.split()
    if len(tokens) >= 2 and all(_COLUMN.match(token) for token in tokens):
        return tokens
    return None


def _row(columns: list[str], line: str) -> dict[str, str | int | float]:
    """Split on whitespace; the last column takes the rest of the line (commands, paths)."""
    values = line.split(None, len(columns) - 1)
    return {column: _number(value) for column, value in zip(columns, values)}


def _number(text: str) -> str | int | float:
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
