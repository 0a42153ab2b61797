"""Every event prints whole lines: a printf or time() whose text does not end the line lets the line of
another event, printed at the same moment on another CPU, land in the middle of it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [*ROOT.glob("plugins/templates/mcptrace_templates/library/*.toml"), *ROOT.glob("example_packs/*/*/examples/**/*.toml")]
)
OUTPUT_CALL = re.compile(r"\b(printf|time)\s*\(\s*\"((?:[^\"\\]|\\.)*)\"")


def program_of(path: Path) -> str:
    document = tomllib.loads(path.read_text())
    return str(document.get("program") or document.get("body") or "")


def event_blocks(program: str) -> list[tuple[str, str]]:
    """(probe head, body) of each top-level block, BEGIN and END left out (they run alone)."""
    blocks, depth, head_start, body_start = [], 0, 0, 0
    for index, char in enumerate(program):
        if char == "{" and program[index - 1 : index] != "{" and program[index + 1 : index + 2] not in "{%":
            if depth == 0:
                head_start, body_start = program.rfind("}", 0, index) + 1, index
            depth += 1
        elif char == "}" and depth and program[index - 1 : index] not in "}%" and program[index + 1 : index + 2] != "}":
            depth -= 1
            if depth == 0:
                head = program[head_start:body_start].strip()
                if not re.fullmatch(r"(?:BEGIN|END)\s*", head.splitlines()[-1] if head else ""):
                    blocks.append((head, program[body_start : index + 1]))
    return blocks


def test_the_sources_are_found() -> None:
    assert len(SOURCES) >= 50 and any(path.stem == "exec_trace" for path in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.stem)
def test_every_event_prints_whole_lines(path: Path) -> None:
    for head, body in event_blocks(program_of(path)):
        for call, text in OUTPUT_CALL.findall(body):
            assert text.endswith("\\n"), f"{path.name}: {head!r} {call}(\"{text}\") leaves its line open"
