"""Field types shared by tool inputs, with the checks every caller-supplied text needs."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_PROGRAM_CHARS = 256 * 1024
"""A hard ceiling for the schema; the configured runs.max_program_bytes is usually lower."""


def _clean_program(text: str) -> str:
    if not text.strip():
        raise ValueError("the program is empty; give bpftrace source such as 'BEGIN { printf(\"hi\\n\"); exit(); }'")
    if "\x00" in text:
        raise ValueError(f"the program contains a NUL character at offset {text.index(chr(0))}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"the program is not valid UTF-8 (unpaired surrogate at offset {error.start})") from None
    return text


ProgramText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROGRAM_CHARS, description="bpftrace program source."),
    AfterValidator(_clean_program),
]


def _clean_pattern(text: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("control characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8") from None
    return text.strip()


PatternText = Annotated[str, Field(max_length=512), AfterValidator(_clean_pattern)]
