"""The memo of program facts: what reading the packs parsed before is answered from disk, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcptrace_core.program import memo
from mcptrace_core.program.parser import ProgramSyntaxError, parse_program

PROGRAM = 'tracepoint:syscalls:sys_enter_openat,\n  t:sched:sched_switch { @[comm] = count(); }\ninterval:s:1 { exit(); }'


def test_remembered_attach_points_equal_the_parsed_ones_and_skip_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with memo.remembering(tmp_path):
        first = memo.attach_points(PROGRAM)
    assert first == parse_program(PROGRAM).attach_points
    assert [(spec.text, spec.line, spec.col) for spec in first] == [
        ("tracepoint:syscalls:sys_enter_openat", 1, 1), ("t:sched:sched_switch", 2, 3), ("interval:s:1", 3, 1)
    ]
    calls: list[str] = []
    real = parse_program

    def counted(source: str) -> object:
        calls.append(source)
        return real(source)

    monkeypatch.setattr("mcptrace_core.program.parser.parse_program", counted)
    with memo.remembering(tmp_path):
        assert memo.attach_points(PROGRAM) == first
    assert calls == []
    assert memo.attach_points(PROGRAM) == first and len(calls) == 1  # outside remembering(): parsed


def test_errors_are_not_remembered_and_the_file_keeps_only_what_was_used(tmp_path: Path) -> None:
    computed: list[str] = []

    def compute(value: str) -> list[str]:
        computed.append(value)
        return [value]

    with memo.remembering(tmp_path):
        memo.remembered("fact", "a", lambda: compute("a"))
        memo.remembered("fact", "b", lambda: compute("b"))
        with pytest.raises(ProgramSyntaxError):
            memo.attach_points("tracepoint:x:y {")
    with memo.remembering(tmp_path):
        assert memo.remembered("fact", "a", lambda: compute("a")) == ["a"]
        with pytest.raises(ProgramSyntaxError):
            memo.attach_points("tracepoint:x:y {")
    assert computed == ["a", "b"]
    stored = json.loads((tmp_path / memo.MEMO_FILE).read_text())
    assert len(stored["data"]) == 1  # "b" was not used by the last reading: gone


def test_a_change_of_the_code_that_computed_a_fact_forgets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with memo.remembering(tmp_path):
        memo.remembered("fact", "a", lambda: ["old answer"])
    monkeypatch.setattr(memo, "_code_key", lambda: "another parser")
    with memo.remembering(tmp_path):
        assert memo.remembered("fact", "a", lambda: ["new answer"]) == ["new answer"]
    assert json.loads((tmp_path / memo.MEMO_FILE).read_text())["key"] == "another parser"


def test_an_unreadable_or_foreign_memo_file_is_read_as_empty(tmp_path: Path) -> None:
    (tmp_path / memo.MEMO_FILE).write_text('{"key": 1, "data": [')
    with memo.remembering(tmp_path):
        assert memo.remembered("fact", "a", lambda: ["fresh"]) == ["fresh"]
    assert json.loads((tmp_path / memo.MEMO_FILE).read_text())["data"]
