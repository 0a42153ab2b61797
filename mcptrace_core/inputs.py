"""Field types shared by tool inputs, with the checks every caller-supplied text needs."""

from __future__ import annotations

from typing import Annotated

from typing import Any

from pydantic import AfterValidator, BeforeValidator, Field

MAX_PROGRAM_CHARS = 256 * 1024
"""A hard ceiling for the schema; the configured runs.max_program_bytes is usually lower."""


def _utf8(value: Any) -> Any:
    """Name the problem with text that cannot be UTF-8 (JSON can carry unpaired surrogate escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"not valid UTF-8 (unpaired surrogate at offset {error.start})") from None
    return value


def _clean_program(text: str) -> str:
    if not text.strip():
        raise ValueError("the program is empty; give bpftrace source such as 'BEGIN { printf(\"hi\\n\"); exit(); }'")
    if "\x00" in text:
        raise ValueError(f"the program contains a NUL character at offset {text.index(chr(0))}")
    return text


ProgramText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROGRAM_CHARS, description="bpftrace program source."),
    BeforeValidator(_utf8),
    AfterValidator(_clean_program),
]


def _clean_pattern(text: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("control characters are not allowed")
    return text.strip()


PatternText = Annotated[str, Field(max_length=512), BeforeValidator(_utf8), AfterValidator(_clean_pattern)]

MaxOverheadPct = Field(
    None, gt=0, le=100,
    description="The largest share of the whole machine's CPU (all cores, %) the run's BPF programs and its own "
    "process may use, averaged over the policy's budget window; a run over it is stopped with status over_budget "
    "(maps kept). Only lowers the policy's budget, never raises it.",
)
