"""Parsing output as it arrives: fed in any parts, the text parser finds what a whole parse finds.

A BCC run's get_result shows histograms and table rows while the tool runs, from the same parser that
analyze_output uses; these tests hold the streaming form to the whole-text form.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mcptrace_analyzers.analyzers import BccAnalyzer
from mcptrace_analyzers.textparse import TextParser

from mcptrace_core.analysis import EventTable, ParsedOutput, RowRun

# The shapes BCC and libbpf tools print (written for these tests): a banner, a per-interval table
# printed again under a time stamp, keyed histograms separated by blank lines, and a line no header fits.
OUTPUT = """Tracing... Hit Ctrl-C to end.
[10:00:01]
SYSCALL        COUNT
read            1200
write            310
openat            45

[10:00:02]
SYSCALL        COUNT
read             900
futex            120

pid = 42 nginx
     usecs               : count    distribution
         0 -> 1          : 3        |***                 |
         2 -> 3          : 20       |********************|
         4 -> 7          : 1        |*                   |

pid = 7 postgres
     usecs               : count    distribution
         0 -> 1          : 0        |                    |
         2 -> 3          : 5        |*****               |
PCOMM     PID    PPID   RET ARGS
cat       1001   900      0 /usr/bin/cat /etc/hosts
ls        1002   900      0 /usr/bin/ls -l /tmp
false     1003   900      1
warning: slow
sh        1004   900      0 /bin/sh -c true
"""
LINES = OUTPUT.splitlines()


def _streamed(parts: list[list[str]]) -> list[ParsedOutput]:
    stream = BccAnalyzer().stream()
    taken = []
    for part in parts:
        stream.feed(part)
        taken.append(stream.take())
    taken.append(stream.take(final=True))
    return taken


def _merged_runs(tables: list[EventTable]) -> list[RowRun]:
    runs: list[RowRun] = []
    for run in (run for table in tables for run in table.row_runs):
        if runs and runs[-1].stop == run.start and runs[-1].header_line == run.header_line:
            runs[-1] = runs[-1]._replace(stop=run.stop)
        else:
            runs.append(run)
    return sorted(runs)


def _rows(tables: list[EventTable]) -> dict[str, list[list[str]]]:
    """Rows by header, values as text (a part may type a column that the whole keeps as text)."""
    rows: dict[str, list[list[str]]] = {}
    for table in tables:
        for index in range(table.rows):
            rows.setdefault(" ".join(c.name for c in table.columns), []).append(
                [str(c.values[index]) for c in table.columns]
            )
    return rows


def _maps(parsed: list[ParsedOutput]) -> dict[str, Any]:
    latest = {}
    for part in parsed:
        latest.update({m.name: m.to_trace_map() for m in part.maps})
    return latest


def test_a_whole_parse_says_which_line_each_row_came_from() -> None:
    parsed = BccAnalyzer().parse(OUTPUT)
    by_header = {table.header: table for table in parsed.tables if table.header}
    syscalls = by_header["SYSCALL        COUNT"]
    assert syscalls.row_runs == [RowRun(2, 3, 6), RowRun(8, 9, 11)]  # two printouts of one header
    assert [LINES[i].split()[0] for run in syscalls.row_runs for i in range(run.start, run.stop)] == \
        syscalls.columns[0].values
    execs = by_header["PCOMM     PID    PPID   RET ARGS"]
    header = LINES.index("PCOMM     PID    PPID   RET ARGS")
    # a line no header fits is not a row, so the rows come in two runs around it
    assert execs.row_runs == [RowRun(header, header + 1, header + 4), RowRun(header, header + 5, header + 6)]
    assert execs.columns[4].values == ["/usr/bin/cat /etc/hosts", "/usr/bin/ls -l /tmp", None, "/bin/sh -c true"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(LINES)), max_size=12))
def test_fed_in_any_parts_the_stream_finds_what_the_whole_parse_finds(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(LINES)]
    parts = [LINES[a:b] for a, b in zip(bounds, bounds[1:])]
    whole = BccAnalyzer().parse(OUTPUT)
    streamed = _streamed(parts)
    tables = [table for part in streamed for table in part.tables]
    assert _merged_runs(tables) == _merged_runs(whole.tables)
    assert _rows(tables) == _rows([t for t in whole.tables if t.header])
    assert _maps(streamed) == {m.name: m.to_trace_map() for m in whole.maps}


def test_a_histogram_cut_between_two_parts_goes_on() -> None:
    start = LINES.index("pid = 42 nginx")
    stream = TextParser("bcc")
    stream.feed(LINES[: start + 3])  # the key, the header and the first bucket row
    assert stream.take().maps == []  # still open: more rows may come
    stream.feed(LINES[start + 3 : start + 5])
    stream.feed([""])
    (usecs,) = stream.take().maps
    assert usecs.keys == ["pid=42 nginx"] and [b.count for b in usecs.values[0]] == [3, 20, 1]


def test_a_take_hands_over_only_what_is_new_and_keeps_nothing_else() -> None:
    stream = TextParser("bcc")
    stream.feed(LINES[:6])
    first = stream.take()
    assert [t.rows for t in first.tables] == [3] and first.other_lines == 1
    assert stream.take() == ParsedOutput(kind="bcc")  # nothing new, nothing kept
    stream.feed(LINES[6:11])
    (again,) = stream.take().tables
    assert again.row_runs == [RowRun(8, 9, 11)] and again.columns[1].values == [900, 120]
    # the current snapshot is all the collector keeps between takes
    assert len(stream.maps._groups) <= 1
