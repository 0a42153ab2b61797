"""Parse text trace output line by line: bpftrace maps and histograms, BCC histograms, notices, events.

One pass, one state machine, so mixed output (a tool's banner, printf events, then maps at exit)
parses in a single read. What each line is:

- ``@name: value``, ``@name[key]: value`` (key may span lines: kstack/ustack), ``... count N, average
  N, total N`` (stats), ``(a, b)`` (tuples): map entries.
- ``@name:`` followed by ``[lo, hi)  count |@@@|`` rows (``[1]``, ``(..., 0)``, ``[100, ...)``,
  K/M/G suffixes): hist() and lhist().
- ``  usecs  : count  distribution`` then ``  lo -> hi  : count  |***|``: a BCC/libbpf-tools
  histogram, keyed by a preceding ``pid = 42 name`` style line when there is one.
- time stamps (``21:30:38``, ``[15:28:45]``) start the next interval; ``Lost N events``, helper
  warnings and ``Attaching N probes...`` are notices; everything else is an event line for the tables.
"""

from __future__ import annotations

import re

from mcptrace_core.analysis import ParsedOutput
from mcptrace_core.models import HistBucket, MapEntry

from mcptrace_analyzers.collect import MapCollector
from mcptrace_analyzers.tables import EventLines
from mcptrace_analyzers.values import bound, map_value

MAP_LINE = re.compile(r"(@\w*)(?:\[(.*)\])?: ?(.*)\Z", re.S)
STACK_START = re.compile(r"(@\w*)\[\Z")
BUCKET_ROW = re.compile(r"[\[(](-?\d+[KMGTPE]?|\.\.\.)(?:, (-?\d+[KMGTPE]?|\.\.\.))?[\])]\s+(\d+)\s+\|")
BCC_HEADER = re.compile(r"\s*(\S+)\s+: count\s+distribution\s*\Z")
BCC_ROW = re.compile(r"\s*(-?\d+)(?:\s*->\s*(-?\d+))?\s*: (\d+)\s+\|")
BCC_KEY = re.compile(r"([A-Za-z_][\w ]*?) = (.+)\Z")
EMBEDDED_MAP = re.compile(r"(.*?\S)\s+(@\w*(?:\[.*\])?: .*)\Z", re.S)
TIME_STAMP = re.compile(r"\[?\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\]?(?:\s+[^:]{0,40}:)?\s*\Z")
LOST = re.compile(r"Lost (\d+) events\Z")
HELPER_WARNING = re.compile(r"(?:\S+: )?WARNING: Failed to (\w+): (.*)\Z")
ATTACHING = re.compile(r"Attaching \d+ probes?\.\.\.\Z")
TILDES = re.compile(r"\s*~+\s*\Z")


class _Hist:
    """A histogram being read: its map name, key and bucket rows so far."""

    __slots__ = ("name", "key", "buckets", "bcc")

    def __init__(self, name: str, key: str | None, bcc: bool) -> None:
        self.name, self.key, self.bcc = name, key, bcc
        self.buckets: list[HistBucket] = []


class TextParser:
    """Feed it lines (``feed``) or a whole text (``parse``); ``result`` builds the ParsedOutput."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.maps = MapCollector()
        self.events = EventLines()
        self.lost_events = 0
        self.helper_errors: list[str] = []
        self._hist: _Hist | None = None
        self._stack: tuple[str, list[str]] | None = None
        self._bcc_key: str | None = None
        self._after_helper = 0

    def parse(self, text: str) -> ParsedOutput:
        self.feed(text.splitlines())
        return self.result()

    def feed(self, lines: list[str]) -> None:
        bucket_row, bcc_row = BUCKET_ROW.match, BCC_ROW.match
        for line in lines:
            hist = self._hist
            if hist is not None:
                match = bcc_row(line) if hist.bcc else bucket_row(line)
                if match:
                    self._bucket(hist, match)
                    continue
                self._close_hist()
            if line[:1] == "@":
                self._map_line(line)
            elif self._stack is not None:
                self._stack_line(line)
            else:
                self._other(line)

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

    # -- maps ------------------------------------------------------------------------------------

    def _map_line(self, line: str) -> None:
        match = MAP_LINE.match(line)
        if match is None:
            start = STACK_START.match(line)
            if start:
                self._stack = (start.group(1), [])
            else:
                self._other(line)
            return
        name, key, value = match.groups()
        self._entry(name, key, value.strip())

    def _stack_line(self, line: str) -> None:
        assert self._stack is not None
        name, frames = self._stack
        if line.startswith("]"):
            self._stack = None
            value = line[1:].lstrip(":").strip()
            self._entry(name, "\n" + "\n".join(frames) + "\n" if frames else "", value)
        elif len(frames) < 256:
            frames.append(line.rstrip())

    def _entry(self, name: str, key: str | None, value: str) -> None:
        if not value:  # a histogram follows (or an empty string value, decided when no row comes)
            self._hist = _Hist(name, key, bcc=False)
            return
        kind, parsed = map_value(value)
        if kind == "stats":
            self.maps.entry(name, "stats", MapEntry(key=key, stats=parsed))  # type: ignore[arg-type]
        else:
            self.maps.entry(name, "value", MapEntry(key=key, value=parsed))  # type: ignore[arg-type]

    def _bucket(self, hist: _Hist, match: re.Match[str]) -> None:
        first, second, count = match.groups()
        if hist.bcc:  # 'lo -> hi' covers lo..hi inclusive
            low = float(first)
            high = float(second) + 1 if second is not None else low + 1
        else:
            low, high = bound(first), bound(second) if second is not None else None
            if second is None:  # '[5]': exactly 5
                high = low + 1 if low is not None else None
        hist.buckets.append(HistBucket(low=low, high=high, count=int(count)))

    def _close_hist(self) -> None:
        hist, self._hist = self._hist, None
        if hist is None:
            return
        if hist.buckets:
            self.maps.entry(hist.name, "hist", MapEntry(key=hist.key, buckets=hist.buckets))
        elif not hist.bcc:
            self.maps.entry(hist.name, "value", MapEntry(key=hist.key, value=""))

    # -- everything else -------------------------------------------------------------------------

    def _other(self, line: str) -> None:
        if self._after_helper:  # the source line and the ~~~ marker under a helper warning
            self._after_helper -= 1
            if self._after_helper == 1 or TILDES.match(line):
                return
        text = line.strip()
        if not text:
            self.events.gap()
            return
        if "@" in text:
            embedded = EMBEDDED_MAP.match(text)
            if embedded:  # 'HH:MM:SS rate: @: 12' - printf without a newline, then print(@)
                label = embedded.group(1)
                self.maps.label(label, starts_interval=TIME_STAMP.match(label) is not None)
                self._map_line(embedded.group(2))
                return
        if text[0] in "[0123456789" and TIME_STAMP.match(text):
            self.maps.label(text, starts_interval=True)
            return
        header = BCC_HEADER.match(line)
        if header:
            self._hist = _Hist(header.group(1), self._bcc_key, bcc=True)
            self._bcc_key = None
            return
        if self._notice(text):
            return
        key = BCC_KEY.match(text) if " = " in text else None
        if key and len(text) <= 80:
            self._bcc_key = f"{key.group(1)}={key.group(2)}"
            return
        self.maps.label(text)
        self.events.add(line)

    def _notice(self, text: str) -> bool:
        lost = LOST.match(text)
        if lost:
            self.lost_events += int(lost.group(1))
            return True
        if "WARNING: Failed to " in text:
            warning = HELPER_WARNING.match(text)
            if warning:
                if len(self.helper_errors) < 100:
                    self.helper_errors.append(f"{warning.group(1)}: {warning.group(2)}")
                self._after_helper = 2
                return True
        return ATTACHING.match(text) is not None
