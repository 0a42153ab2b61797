"""Parse text trace output: bpftrace maps and histograms, BCC histograms, notices, event lines.

Mixed output (a tool's banner, printf events, then maps at exit) parses in one read. What lines are:

- ``@name: value``, ``@name[key]: value`` (key may span lines: kstack/ustack), ``... count N, average
  N, total N`` (stats), ``(a, b)`` (tuples): map entries.
- ``@name:`` followed by ``[lo, hi)  count |@@@|`` rows (``[1]``, ``(..., 0)``, ``[100, ...)``,
  K/M/G suffixes): hist() and lhist().
- ``  usecs  : count  distribution`` then ``  lo -> hi  : count  |***|``: a BCC/libbpf-tools
  histogram, keyed by a preceding ``pid = 42 name`` style line when there is one.
- time stamps (``21:30:38``, ``[15:28:45]``) start the next interval; ``Lost N events``, helper
  warnings and ``Attaching N probes...`` are notices; everything else is an event line for the tables.

Fed in parts (``feed`` again and again, ``take`` now and then) it follows a run's output as it
arrives: a histogram or a table cut between two parts goes on in the next.

Speed: runs of event lines go to ``eventruns`` in bulk and runs of ``@map: N`` lines are read in a
tight loop; both stop at the first line that might be anything else, and only that line goes
through the full state machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcptrace_analyzers.collect import MapCollector
from mcptrace_analyzers.eventruns import HELPER_INFO_MARK, HELPER_MARK, take_other, take_rows
from mcptrace_analyzers.gcpause import paused_gc
from mcptrace_analyzers.tables import EventLines
from mcptrace_analyzers.values import bound, map_value
from mcptrace_core.analysis import Bucket, ParsedOutput, StatsValue
from mcptrace_core.interfaces import OutputStream

MAP_LINE = re.compile(r"(@\w*)(?:\[(.*)\])?: ?(.*)\Z", re.DOTALL)
STACK_START = re.compile(r"(@\w*)\[\Z")
BUCKET_ROW = re.compile(r"[\[(](-?\d+[KMGTPE]?|\.\.\.)(?:, (-?\d+[KMGTPE]?|\.\.\.))?[\])]\s*(\d+)\s+\|")
BCC_HEADER = re.compile(r"\s*(\S+)\s+: count\s+distribution\s*\Z")
BCC_ROW = re.compile(r"\s*(-?\d+)(?:\s*->\s*(-?\d+))?\s*: (\d+)\s+\|")
BCC_KEY = re.compile(r"([A-Za-z_][\w ]*?) = (.+)\Z")
EMBEDDED_MAP = re.compile(r"(.*?\S)\s+(@\w*(?:\[.*\])?: .*)\Z", re.DOTALL)
TIME_STAMP = re.compile(r"\[?\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\]?(?:\s+[^:]{0,40}:)?\s*\Z")
LOST = re.compile(r"Lost (\d+) events\Z")
HELPER_WARNING = re.compile(r"(\S+: )?WARNING: Failed to (\w+): (.*)\Z")
LOCATED_WARNING = re.compile(r"(\S+:\d+:\S*: )WARNING: (.*)\Z")
HELPER_INFO = re.compile(r"Additional Info - helper: (\w+), retcode: (-?\d+)\Z")
ATTACHING = re.compile(r"Attaching \d+ probes?\.\.\.\Z")
TILDES = re.compile(r"\s*~+\s*\Z")


class _Hist:
    """A histogram being read: its map name, key and bucket rows so far."""

    __slots__ = ("bcc", "buckets", "key", "line", "name")

    def __init__(self, name: str, key: str | None, bcc: bool, line: int) -> None:
        self.name, self.key, self.bcc, self.line = name, key, bcc, line
        self.buckets: list[Bucket] = []


class TextParser(OutputStream):
    """Feed it lines (``feed``) or a whole text (``parse``); ``result`` builds the ParsedOutput, or
    ``take`` hands over what came since the last take (as an ``OutputStream``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.maps = MapCollector(text_ends_printouts=kind != "bcc")
        self.events = EventLines()
        self.lost_events = 0
        self.helper_errors: list[str] = []
        self._hist: _Hist | None = None
        self._stack: tuple[str, list[str], int] | None = None
        self._previous = ""
        self._skip_source = False
        self._warning: str | None = None
        """A bpftrace 0.23 helper warning, waiting for its "Additional Info" line."""
        self._spans: dict[tuple[bool, str, str | None], tuple[float | None, float | None]] = {}
        self._base = 0
        """The number of the first line of the part being fed (lines fed before it)."""
        self._at = 0
        """The number of the line going through the state machine (``_line``)."""

    def parse(self, text: str) -> ParsedOutput:
        with paused_gc():
            self.feed(text.splitlines())
            return self.result()

    def skip_to(self, line: int) -> None:
        """Number the next line fed ``line``: lines of the output that were read elsewhere (JSON
        events) still count, so positions stay those of the whole output."""
        self._base = max(self._base, line)

    def feed(self, lines: Sequence[str]) -> None:
        if not isinstance(lines, list):
            lines = list(lines)
        index, count = 0, len(lines)
        while index < count:
            index = self._consume(lines, index, count)
            if index < count and not self._skip_source:  # the line under a helper warning is dropped
                index = self._event_lines(lines, index, count)
            if index < count:
                self._at = self._base + index
                self._line(lines[index])
                index += 1
        self._base += count

    def _event_lines(self, lines: list[str], index: int, count: int) -> int:
        """Take event lines in bulk (table rows, or lines under no header); stop at the first line
        that may be something else and return its index."""
        table = self.events.current
        if table is not None:
            end = take_rows(lines, index, count, table)
            if end > index:
                table.mark_rows(self._base + index, self._base + end)
        else:
            end = take_other(lines, index, count, self.events.other)
        if end > index:
            self._previous = lines[end - 1].strip()
            self.maps.label(self._previous)
        return end

    def _consume(self, lines: list[str], index: int, count: int) -> int:
        """Read on while the state machine needs the lines (histogram rows, stack frames, more map
        lines); return the index of the first line it left."""
        while index < count:
            if self._hist is not None:
                index = self._hist_rows(lines, index, count)
            elif self._stack is not None or lines[index][:1] == "@":
                index = self._map_lines(lines, index, count)
            else:
                break
        return index

    def _hist_rows(self, lines: list[str], index: int, count: int) -> int:
        hist = self._hist
        assert hist is not None
        row = BCC_ROW.match if hist.bcc else BUCKET_ROW.match
        spans, append = self._spans, hist.buckets.append
        while index < count:
            match = row(lines[index])
            if match is None:
                break
            first, second, number = match.groups()
            span = spans.get((hist.bcc, first, second))
            if span is None:
                span = spans[(hist.bcc, first, second)] = _span(hist.bcc, first, second)
            append(Bucket(span[0], span[1], int(number)))
            index += 1
        if index < count:  # at the end of a part the rows may go on in the next
            self._close_hist()
        return index

    def _map_lines(self, lines: list[str], index: int, count: int) -> int:
        """``@map[key]: integer`` lines in a tight loop of string methods (a regex costs more here),
        handed over a map at a time; the first line that is not one goes through ``_line``."""
        self.events.gap()
        start = index
        name: str | None = None
        keys: list[str | None] = []
        values: list[int] = []
        first = index
        while self._stack is None and index < count:
            head, separator, number = lines[index].rpartition(": ")
            if not separator or head[:1] != "@":
                break
            try:
                value = int(number)
            except ValueError:
                break
            map_name, bracket, key = head.partition("[")
            if bracket and key[-1:] != "]":
                break
            if map_name != name:
                if not (map_name == "@" or map_name[1:].isidentifier()):
                    break
                if keys:
                    self.maps.extend(name, "value", keys, values, self._base + first)  # type: ignore[arg-type]
                name, keys, values, first = map_name, [], [], index
            keys.append(key[:-1] if bracket else None)
            values.append(value)
            index += 1
        if keys:
            self.maps.extend(name, "value", keys, values, self._base + first)  # type: ignore[arg-type]
        if index == start:  # this line needs the full state machine
            self._at = self._base + index
            self._line(lines[index])
            index += 1
        return index

    def result(self) -> ParsedOutput:
        self._close_hist()
        maps, snapshots = self.maps.result()
        tables, other, sample = self.events.result()
        return ParsedOutput(
            kind=self.kind,
            maps=maps,
            snapshots=snapshots,
            tables=tables,
            other_lines=other,
            other_sample=sample,
            lost_events=self.lost_events,
            helper_errors=self.helper_errors,
        )

    def take(self, final: bool = False) -> ParsedOutput:
        if final:
            self._close_hist()
        tables, other = self.events.take()
        taken = ParsedOutput(
            kind=self.kind,
            maps=self.maps.take(),
            tables=tables,
            other_lines=other,
            lost_events=self.lost_events,
            helper_errors=self.helper_errors,
        )
        self.lost_events, self.helper_errors = 0, []
        return taken

    # -- one line through the state machine ------------------------------------------------------

    def _line(self, line: str) -> None:
        hist = self._hist
        if hist is not None:
            match = BCC_ROW.match(line) if hist.bcc else BUCKET_ROW.match(line)
            if match:
                first, second, number = match.groups()
                low, high = _span(hist.bcc, first, second)
                hist.buckets.append(Bucket(low, high, int(number)))
                return
            self._close_hist()
        if line[:1] == "@":
            self._map_line(line)
        elif self._stack is not None:
            self._stack_line(line)
        else:
            self._other(line)

    # -- maps ------------------------------------------------------------------------------------

    def _map_line(self, line: str) -> None:
        match = MAP_LINE.match(line)
        if match is None:
            start = STACK_START.match(line)
            if start:
                self._stack = (start.group(1), [], self._at)
            else:
                self._other(line)
            return
        name, key, value = match.groups()
        self._entry(name, key, value.strip(), self._at)

    def _stack_line(self, line: str) -> None:
        assert self._stack is not None
        name, frames, at = self._stack
        if line.startswith("]"):
            self._stack = None
            value = line[1:].lstrip(":").strip()
            self._entry(name, "\n" + "\n".join(frames) + "\n" if frames else "", value, at)
        elif len(frames) < 256:
            frames.append(line.rstrip())

    def _entry(self, name: str, key: str | None, value: str, at: int) -> None:
        if not value:  # a histogram follows (or an empty string value, decided when no row comes)
            self._hist = _Hist(name, key, bcc=False, line=at)
            return
        kind, parsed = map_value(value)
        if isinstance(parsed, StatsValue):
            self.maps.entry(name, "stats", key, parsed, at)
        else:
            self.maps.entry(name, kind, key, parsed, at)  # type: ignore[arg-type]

    def _close_hist(self) -> None:
        hist, self._hist = self._hist, None
        if hist is None:
            return
        if hist.buckets:
            self.maps.entry(hist.name, "hist", hist.key, hist.buckets, hist.line)
        elif not hist.bcc:
            self.maps.entry(hist.name, "value", hist.key, "", hist.line)

    # -- everything else -------------------------------------------------------------------------

    def _other(self, line: str) -> None:
        text = line.strip()
        if self._skip_source:
            self._skip_source = False
            if text:
                return
        if not text or TILDES.match(text):
            self.events.gap()
            if not text:
                self.maps.blank()
            return
        if "@" in text:
            embedded = EMBEDDED_MAP.match(text)
            if embedded:  # 'HH:MM:SS rate: @: 12' - printf without a newline, then print(@)
                label = embedded.group(1)
                self.maps.label(label, TIME_STAMP.match(label) is not None, self._at)
                self._map_line(embedded.group(2))
                return
        if text[0] in "[0123456789" and TIME_STAMP.match(text):
            self.maps.label(text, starts_interval=True, line=self._at)
            return
        header = BCC_HEADER.match(line)
        if header:  # keyed when the line before says which key: 'pid = 42 name', 'disk = sda'
            key = BCC_KEY.match(self._previous)
            if key:
                self.events.take_back(self._previous)
            self.events.gap()
            key_text = f"{key.group(1)}={key.group(2)}" if key else None
            self._hist = _Hist(header.group(1), key_text, bcc=True, line=self._at)
            return
        if self._notice(text):
            return
        self._previous = text
        self.maps.label(text)
        self.events.add(line, self._at)

    def _notice(self, text: str) -> bool:
        lost = LOST.match(text)
        if lost:
            self.lost_events += int(lost.group(1))
            return True
        if HELPER_MARK in text:
            warning = HELPER_WARNING.match(text)
            if warning:
                where, helper, reason = warning.groups()
                if len(self.helper_errors) < 100:
                    self.helper_errors.append(f"{helper}: {reason}")
                self._skip_source = where is not None  # 'stdin:1:27-32: WARNING ...' quotes the program
                return True
            located = LOCATED_WARNING.match(text)
            if located:  # 0.23: the helper and its code follow on the next line
                self._warning = located.group(2)
                return True
        if text.startswith(HELPER_INFO_MARK):
            info = HELPER_INFO.match(text)
            if info:
                if len(self.helper_errors) < 100:
                    self.helper_errors.append(f"{info.group(1)}: {self._warning or 'failed'} ({info.group(2)})")
                self._warning, self._skip_source = None, True
                return True
        return ATTACHING.match(text) is not None


def _span(bcc: bool, first: str, second: str | None) -> tuple[float | None, float | None]:
    """[low, high) of a bucket row: BCC's 'lo -> hi' is inclusive; bpftrace's '[5]' holds just 5."""
    if bcc:
        low = float(first)
        return low, (float(second) + 1 if second is not None else low + 1)
    low = bound(first)
    if second is None:
        return low, (low + 1 if low is not None else None)
    return low, bound(second)
