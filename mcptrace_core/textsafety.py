"""Trace output is untrusted text: strip what could fool a terminal or a reader, and cap its size."""

from __future__ import annotations

import re

_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0 controls except TAB, DEL, and the C1 range; also the Unicode bidi overrides that reorder text.
_CONTROL_TABLE = {
    **{code: None for code in range(0x00, 0x20) if code != 0x09},
    0x7F: None,
    **{code: None for code in range(0x80, 0xA0)},
    **{code: None for code in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)},
}


def clean_line(line: str, max_chars: int) -> str:
    """Remove control characters and escape sequences, then cut the line to ``max_chars``.

    The common case (a printable line) costs one C-level ``isprintable`` scan; tabs and anything
    unusual take the slower path.
    """
    if not line.isprintable():
        if "\x1b" in line:
            line = _ANSI_ESCAPE.sub("", line)
        line = line.translate(_CONTROL_TABLE)
    if len(line) > max_chars:
        cut = len(line) - max_chars
        line = f"{line[:max_chars]}… [{cut} more characters cut]"
    return line


def clean_text(text: str, max_chars: int) -> str:
    """Clean a multi-line text line by line, keeping the newlines.

    Text that needs nothing (the common case) is checked in a few C-level passes and returned as
    it is: twice as fast as cleaning each line, which matters for a million lines of trace output.
    """
    lines = text.split("\n")
    if max(map(len, lines)) <= max_chars and "".join(lines).replace("\t", "").isprintable():
        return text
    return "\n".join(clean_line(line, max_chars) for line in lines)
