"""Take runs of event lines in bulk: the part of parsing that sees a million printf lines.

Most lines of a long output are events: rows under a header, or lines under none. They are taken in
chunks. A chunk is joined into one string and checked with C-level substring and regex searches for
anything that is not an event line (a map, a blank line, a notice, a time stamp, a header); a clean
chunk of table rows is split once into tokens and cut into columns with slices, which costs about
half of splitting line by line and creates no per-row lists. A chunk that is not clean (or a table
whose last column holds spaces) is taken line by line, up to the first line that is not an event.
"""

from __future__ import annotations

import re

from mcptrace_analyzers.tables import OpenTable

FIRST_CHUNK, MAX_CHUNK = 16, 8192  # chunks double while they are clean: a short run costs little
HELPER_MARK = "WARNING: "
"""bpftrace's run-time warnings: 0.17 "WARNING: Failed to map_update_elem: ... (-7)"; 0.23 "WARNING: Map
full; ..." followed by an "Additional Info - helper: map_update_elem, retcode: -7" line."""
HELPER_INFO_MARK = "Additional Info - helper: "
EMBEDDED_MARK = " @"  # 'HH:MM:SS rate: @: 12', a map printed after printf text on the same line
NOTICE_WORDS = frozenset({"Lost", "Attaching"})
ROW_STOP_FIRST = frozenset("@[]()~")  # rows may be indented (right-aligned numbers), so not white space
OTHER_STOP_FIRST = frozenset("@[]()~ \t")
# Searched in "\n" + chunk: a line that starts like a map, a bucket row, a notice, or is blank.
ROW_STOP = re.compile(r"\n(?:[@\[\]()~\n]|Lost \d|Attaching \d)")
# For lines under no header also: indented lines (BCC rows), capitalised lines (maybe a header), and
# time stamps alone on their line.
OTHER_STOP = re.compile(
    r"\n(?:[@\[\]()~\sA-Z]|\[?\d{1,2}:\d\d:\d\d(?:\.\d+)?\]?(?:[ \t]+[^:\n]{0,40}:)?[ \t]*(?:\n|\Z))"
)


def _has_marks(joined: str) -> bool:
    """A map after text, a helper warning or a BCC histogram header somewhere in the chunk. Each test
    starts with a rare character, so the C substring search skips through the text."""
    return (("@" in joined and EMBEDDED_MARK in joined) or HELPER_MARK in joined or HELPER_INFO_MARK in joined
            or "distribution" in joined)


def take_rows(lines: list[str], index: int, end: int, table: OpenTable) -> int:
    """Rows of ``table`` from ``index`` up to ``end``; returns where the rows stopped."""
    width, size = len(table.columns), FIRST_CHUNK
    while index < end:
        stop = min(index + size, end)
        if table.flat and _columns_of_clean_chunk(lines, index, stop, table, width):
            index, size = stop, min(2 * size, MAX_CHUNK)
            continue
        taken = _rows_one_by_one(lines, index, stop, table, width)
        if taken < stop:
            return taken
        index = stop
    return index


def take_other(lines: list[str], index: int, end: int, other: list[str]) -> int:
    """Lines under no header from ``index`` up to ``end``; returns where they stopped."""
    size = FIRST_CHUNK
    while index < end:
        stop = min(index + size, end)
        chunk = lines[index:stop]
        joined = "\n" + "\n".join(chunk)
        if not OTHER_STOP.search(joined) and not _has_marks(joined):
            other.extend(chunk)
            index, size = stop, min(2 * size, MAX_CHUNK)
            continue
        for position in range(index, stop):
            line = lines[position]
            first = line[:1]
            if (
                not first
                or first in OTHER_STOP_FIRST
                or first.isupper()
                or EMBEDDED_MARK in line
                or HELPER_MARK in line
                or HELPER_INFO_MARK in line
                or (first.isdigit() and OTHER_STOP.match("\n" + line))
            ):
                return position
            other.append(line)
        index = stop
    return index


def _columns_of_clean_chunk(lines: list[str], index: int, stop: int, table: OpenTable, width: int) -> bool:
    chunk = lines[index:stop]
    joined = "\n" + "\n".join(chunk)
    if ROW_STOP.search(joined) or _has_marks(joined):
        return False
    tokens = joined.split()
    if len(tokens) != len(chunk) * width:
        table.flat = len(tokens) < len(chunk) * width  # more tokens: spaces in the last column
        return False
    columns = [tokens[column::width] for column in range(width)]
    # every line ends with its own last token (so no line was short while another was long), and no
    # first token is an upper-case word (a header printed again)
    if not all(map(str.endswith, chunk, columns[-1])) or any(map(str.isupper, columns[0])):
        return False
    table.add_columns(columns)
    return True


def _rows_one_by_one(lines: list[str], index: int, stop: int, table: OpenTable, width: int) -> int:
    rows, last = table.rows, width - 1
    for position in range(index, stop):
        line = lines[position]
        parts = line.split(None, last)
        if (
            len(parts) != width
            or parts[0][0] in ROW_STOP_FIRST
            or parts[0].isupper()
            or parts[0] in NOTICE_WORDS
            or EMBEDDED_MARK in line
        ):
            return position
        rows.append(parts)  # type: ignore[arg-type]
    return stop
