"""Bounded output of one run: the head and the tail are kept, the middle is counted.

Lines are numbered from 0 in the order they arrived, including the dropped ones, so a reader paging
with offsets never sees a line twice and always learns how many it missed.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """Lines ``offset .. offset+len(lines)-1`` of the output, and what was skipped to get there."""

    offset: int
    lines: list[str]
    skipped: int
    """Lines between the requested offset and ``offset`` that were dropped by the cap."""


class OutputBuffer:
    """Keeps at most ``max_lines`` lines and about ``max_bytes`` bytes, half at each end."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self._head_lines = max(1, max_lines // 2)
        self._tail_lines = max(1, max_lines - self._head_lines)
        self._head_bytes = max_bytes // 2
        self._tail_bytes = max_bytes - self._head_bytes
        self._head: list[str] = []
        self._head_size = 0
        self._head_open = True
        self._tail: deque[str] = deque()
        self._tail_size = 0
        self.total = 0
        """Lines seen, kept or not."""
        self.total_bytes = 0
        """Bytes of the lines seen (a newline each), kept or not: what output rate limits count."""
        self.dropped = 0
        """Lines dropped from the middle."""

    @classmethod
    def restore(cls, head: list[str], tail: list[str], total: int) -> OutputBuffer:
        """A finished buffer rebuilt from its kept ends (lines 0.. and ..total-1), e.g. from the history store."""
        buffer = cls(max_lines=len(head) + len(tail) + 2, max_bytes=0)
        buffer._head, buffer._head_open = list(head), False
        buffer._tail = deque(tail)
        buffer.total = total
        buffer.dropped = total - len(head) - len(tail)
        return buffer

    def append(self, line: str) -> None:
        size = len(line) + 1
        self.total += 1
        self.total_bytes += size
        if self._head_open:
            if len(self._head) < self._head_lines and self._head_size + size <= self._head_bytes:
                self._head.append(line)
                self._head_size += size
                return
            self._head_open = False
        tail = self._tail
        tail.append(line)
        self._tail_size += size
        while len(tail) > self._tail_lines or (self._tail_size > self._tail_bytes and len(tail) > 1):
            self._tail_size -= len(tail.popleft()) + 1
            self.dropped += 1

    def extend(self, lines: list[str]) -> None:
        for line in lines:
            self.append(line)

    @property
    def _tail_start(self) -> int:
        return self.total - len(self._tail)

    def page(self, offset: int, limit: int) -> Page:
        """Up to ``limit`` lines from ``offset``; an offset inside the dropped middle moves to the tail.

        A page never spans the gap: it ends where the head ends, and the next page reports the skip.
        """
        offset = max(0, offset)
        head_len, tail_start = len(self._head), self._tail_start
        if offset < head_len:
            lines = self._head[offset : offset + limit]
            if tail_start == head_len and len(lines) < limit:
                lines.extend(islice(self._tail, 0, limit - len(lines)))
            return Page(offset, lines, 0)
        skipped = max(0, tail_start - offset)
        offset += skipped
        index = offset - tail_start
        return Page(offset, list(islice(self._tail, index, index + limit)), skipped)

    def last(self, count: int) -> list[str]:
        """The last ``count`` kept lines, for summaries and error reports."""
        lines = list(islice(self._tail, max(0, len(self._tail) - count), None))
        if len(lines) < count and self._tail_start == len(self._head):
            lines = self._head[max(0, len(self._head) - (count - len(lines))) :] + lines
        return lines
