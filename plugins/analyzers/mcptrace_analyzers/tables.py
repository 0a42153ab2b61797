"""Turn event lines (printf output, BCC tool rows) into tables of typed columns.

A header row is a line of two or more capitalised column names, at least half of them in upper
case (``PID COMM FD ERR PATH``, ``SYSCALL COUNT TIME (us)``, ``TIME(s) PCOMM AGE(s)``,
``SOFTIRQ TOTAL_usecs``). The rows under it are split on white space into as many fields as the
header has; the last field takes the rest of the line, since the last
column is usually free text (a path, the arguments of a command). A header printed again (a tool
printing each interval) continues its table; a blank line ends it. Lines under no header form tables
of their own where five or more consecutive lines have the same number of fields (columns
``col1..colN``); the rest are counted. A table under a header knows which lines its rows came from
(``EventTable.row_runs``), so a caller can show rows next to their lines.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

from mcptrace_analyzers.units import unit_of
from mcptrace_core.analysis import Column, EventTable, RowRun

HEADER_TOKEN = re.compile(r"[A-Z][A-Za-z0-9_%/.#-]*(?:\([A-Za-z%/]+\))?\Z")
UNIT_TOKEN = re.compile(r"\([A-Za-z%/]+\)\Z")
MIN_INFERRED_ROWS = 5
SAMPLE_LINES = 20


def header_columns(line: str) -> list[str] | None:
    """The column names when ``line`` is a header row, else None. '(us)' joins the name before it."""
    tokens = line.split()
    if not 2 <= len(tokens) <= 40:
        return None
    columns: list[str] = []
    for token in tokens:
        if columns and UNIT_TOKEN.match(token):
            columns[-1] += f" {token}"
        elif HEADER_TOKEN.match(token):
            columns.append(token)
        else:
            return None
    shouting = sum(1 for column in columns if column.split("(")[0].split("_")[0].isupper())
    return columns if len(columns) >= 2 and 2 * shouting >= len(columns) else None


class OpenTable:
    """A table being filled: rows one by one (``rows``) or whole column chunks (``add_columns``).

    Whoever adds rows also says which lines they were (``mark_rows``), under the latest printout of
    the header (``header_at``).
    """

    __slots__ = ("chunks", "columns", "flat", "header", "header_at", "padded", "rows", "runs")

    def __init__(self, header: str, columns: list[str]) -> None:
        self.header, self.columns = header, columns
        self.rows: list[list[str | None]] = []
        self.chunks: list[list[list[str | None]]] = []
        self.runs: list[RowRun] = []
        self.header_at = 0
        """The line of the latest printout of the header."""
        self.flat = True
        """Rows have split into exactly one token per column so far (no spaces in the last column)."""
        self.padded = False
        """Some row had no last column (None stands in)."""

    def mark_rows(self, start: int, stop: int) -> None:
        """Lines ``start..stop-1`` were just added as rows."""
        runs = self.runs
        if runs and runs[-1].stop == start and runs[-1].header_line == self.header_at:
            runs[-1] = runs[-1]._replace(stop=stop)
        else:
            runs.append(RowRun(self.header_at, start, stop))

    def typed(self) -> EventTable:
        return _typed(self.header, self.columns, self.column_values(), self.padded, self.runs)

    def clear(self) -> None:
        """Forget the rows so far; the table stays open for more."""
        self.rows, self.chunks, self.runs, self.padded = [], [], [], False

    def add_columns(self, columns: list[list[str]]) -> None:
        self._flush()
        self.chunks.append(columns)  # type: ignore[arg-type]

    def column_values(self) -> list[list[str | None]]:
        self._flush()
        merged = self.chunks[0] if self.chunks else [[] for _ in self.columns]
        for chunk in self.chunks[1:]:
            for values, more in zip(merged, chunk):
                values.extend(more)
        self.chunks = [merged]
        return merged

    def __len__(self) -> int:
        return len(self.rows) + sum(len(chunk[0]) for chunk in self.chunks)

    def _flush(self) -> None:
        if self.rows:
            self.chunks.append([list(values) for values in zip(*self.rows)])
            self.rows = []


class EventLines:
    """Receives event lines in order; ``result`` returns the tables and what fitted none."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, ...], OpenTable] = {}
        self.current: OpenTable | None = None
        """The table whose rows are coming; the parser appends clean rows to it directly."""
        self.other: list[str] = []
        """Lines under no header (the parser appends to it directly)."""

    def add(self, line: str, at: int) -> None:
        """Line number ``at``: a row of the current table, a header, a gap (blank), or an other line."""
        if not line.strip():
            self.gap()
            return
        table = self.current
        columns = header_columns(line) if line.lstrip()[:1].isupper() else None
        if columns is not None:
            self._start(line, columns, at)
            return
        if table is not None:
            width = len(table.columns)
            parts: list[str | None] = line.split(None, width - 1)  # type: ignore[assignment]
            if len(parts) == width:
                table.rows.append(parts)
                table.mark_rows(at, at + 1)
                return
            if width > 2 and len(parts) == width - 1:  # an empty last column
                parts.append(None)
                table.rows.append(parts)
                table.mark_rows(at, at + 1)
                table.padded = True
                return
        self.other.append(line)

    def gap(self) -> None:
        """A blank line or a map: the rows of the current table have ended, and so has a run of
        lines under no header (an empty entry in ``other`` marks where)."""
        self.current = None
        if self.other and self.other[-1]:
            self.other.append("")

    def take_back(self, line: str) -> None:
        """The last other line was not an event after all (the key of a BCC histogram)."""
        while self.other and not self.other[-1]:
            self.other.pop()
        if self.other and self.other[-1].strip() == line:
            self.other.pop()

    def _start(self, line: str, columns: list[str], at: int) -> None:
        key = tuple(columns)
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = OpenTable(line.strip(), columns)
        table.header_at = at
        self.current = table

    def result(self) -> tuple[list[EventTable], int, list[str]]:
        """(tables, number of other lines, the first of them)."""
        tables = [table.typed() for table in self._tables.values() if len(table)]
        inferred, other = _infer(self.other)
        if inferred is not None:
            tables.append(inferred)
        sample = [line.strip() for line in itertools.islice((line for line in other if line), SAMPLE_LINES)]
        return tables, sum(1 for line in other if line), sample

    def take(self) -> tuple[list[EventTable], int]:
        """The tables' rows and the number of other lines since the last take, then forgotten; the
        current table stays open (its rows may go on). No table is inferred from a part of the output."""
        tables = [table.typed() for table in self._tables.values() if len(table)]
        for table in self._tables.values():
            table.clear()
        other = sum(1 for line in self.other if line)
        self.other.clear()
        return tables, other


def _infer(lines: list[str]) -> tuple[EventTable | None, list[str]]:
    """One table of the runs of >= 5 consecutive lines that split into the same number of fields
    (the commonest such width); the other lines are returned as they are."""
    split = [line.split() for line in lines]
    widths = [len(parts) for parts in split]
    in_run = [0] * len(lines)  # the width of the run a line belongs to, 0 for none
    start = 0
    for index in range(1, len(lines) + 1):
        if index < len(lines) and widths[index] == widths[start]:
            continue
        if index - start >= MIN_INFERRED_ROWS and widths[start] >= 2:
            in_run[start:index] = [widths[start]] * (index - start)
        start = index
    found = Counter(width for width in in_run if width)
    if not found:
        return None, lines
    width = found.most_common(1)[0][0]
    rows = [parts for parts, run in zip(split, in_run) if run == width]
    rest = [line for line, run in zip(lines, in_run) if run != width]
    names = [f"col{index + 1}" for index in range(width)]
    return _typed(None, names, [list(values) for values in zip(*rows)]), rest  # type: ignore[arg-type]


def _typed(
    header: str | None,
    names: list[str],
    values: list[list[str | None]],
    padded: bool = False,
    runs: list[RowRun] | None = None,
) -> EventTable:
    """A table from its columns' values (strings; None where a row had no value, only when ``padded``)."""
    columns = [
        _column(name, column, padded and index == len(names) - 1)
        for index, (name, column) in enumerate(zip(names, values))
    ]
    return EventTable(
        header=header, columns=columns, rows=len(values[0]) if values else 0, row_runs=list(runs or ())
    )


def _column(name: str, values: list[str | None], has_none: bool) -> Column:
    numbers = _numbers(values, has_none)
    if numbers is not None:
        return Column(name=name, unit=unit_of(name), numeric=True, values=numbers)
    return Column(name=name, unit=unit_of(name), numeric=False, values=values)


def _numbers(values: list[str | None], has_none: bool) -> list[int | float | None] | None:
    """The values as numbers when every present one is a decimal number; else None."""
    present = [value for value in values if value is not None] if has_none else values
    if not present or not all(_looks_numeric(value) for value in present[:64]):  # type: ignore[arg-type]
        return None
    for convert in (int, float):
        try:
            converted = list(map(convert, present))  # type: ignore[arg-type]
        except ValueError:
            continue
        if present is values:
            return converted
        found = iter(converted)
        return [None if value is None else next(found) for value in values]
    return None


def _looks_numeric(text: str) -> bool:
    """A cheap pre-check that keeps names like 'inf', 'nan' or '1_000' out of numeric columns."""
    head = text[1:] if text[:1] in "+-" else text
    return head[:1].isdigit() and "_" not in text
