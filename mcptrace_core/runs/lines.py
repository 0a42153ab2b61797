"""Split a child's output stream into text lines as the bytes arrive.

One reader for local runs and for runs a plugin keeps elsewhere (a fleet host's SSH channel): UTF-8 decoded
with replacement, a line without end cut into pieces of at most four times ``max_line_chars``.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

READ_CHUNK = 256 * 1024


async def pump_lines(
    stream: Any, on_line: Callable[[str], None], max_line_chars: int, after_chunk: Callable[[], None] | None = None
) -> None:
    """Call ``on_line`` for each line of ``stream`` (anything with ``async read(n) -> bytes``) until its end;
    ``after_chunk`` after the lines of each chunk (to wake waiters once, not once per line)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    partial = ""
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            break
        lines = (partial + decoder.decode(chunk)).split("\n")
        partial = lines.pop()
        if len(partial) > max_line_chars * 4:  # a line without end: take it as it is
            lines.append(partial)
            partial = ""
        for line in lines:
            on_line(line)
        if after_chunk is not None:
            after_chunk()
    rest = partial + decoder.decode(b"", final=True)
    if rest:
        on_line(rest)
    if after_chunk is not None:
        after_chunk()
