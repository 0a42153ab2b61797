"""The bounded output buffer keeps the head and the tail, counts the middle, and pages without loss."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mcptrace_core.runs.buffer import OutputBuffer
from mcptrace_core.textsafety import clean_line


def _filled(count: int, max_lines: int = 10, max_bytes: int = 1 << 20) -> OutputBuffer:
    buffer = OutputBuffer(max_lines, max_bytes)
    for index in range(count):
        buffer.append(f"line {index}")
    return buffer


def test_under_the_cap_everything_is_kept() -> None:
    buffer = _filled(7)
    assert buffer.total == 7 and buffer.dropped == 0
    assert buffer.page(0, 100).lines == [f"line {i}" for i in range(7)]


def test_over_the_cap_head_and_tail_are_kept_and_the_middle_counted() -> None:
    buffer = _filled(25)
    assert buffer.total == 25 and buffer.dropped == 15
    assert buffer.page(0, 100).lines == [f"line {i}" for i in range(5)]
    jump = buffer.page(5, 100)
    assert jump.offset == 20 and jump.skipped == 15
    assert jump.lines == [f"line {i}" for i in range(20, 25)]
    assert buffer.last(3) == ["line 22", "line 23", "line 24"]


def test_a_byte_cap_limits_memory_even_with_few_lines() -> None:
    buffer = OutputBuffer(1000, 64 * 1024)
    for _ in range(1000):
        buffer.append("x" * 1000)
    kept = len(buffer.page(0, 1000).lines) + len(buffer.page(500, 1000).lines)
    assert kept * 1001 <= 64 * 1024 + 1001
    assert buffer.dropped == 1000 - kept


@given(st.integers(0, 300), st.integers(2, 40), st.integers(1, 50))
def test_paging_sees_every_kept_line_once_in_order(count: int, max_lines: int, page_size: int) -> None:
    buffer = _filled(count, max_lines)
    seen: list[str] = []
    skipped = 0
    offset = 0
    while offset < buffer.total:
        page = buffer.page(offset, page_size)
        skipped += page.skipped
        seen.extend(page.lines)
        offset = page.offset + len(page.lines)
    assert len(seen) + skipped == count
    assert skipped == buffer.dropped
    numbers = [int(line.split()[1]) for line in seen]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_clean_line_strips_controls_and_escapes_but_keeps_tabs_and_unicode() -> None:
    assert clean_line("a\x1b[31mred\x1b[0m\tb", 100) == "ared\tb"
    assert clean_line("bell\x07 nul\x00 del\x7f", 100) == "bell nul del"
    assert clean_line("tête-à-tête ✓", 100) == "tête-à-tête ✓"
    assert clean_line("rtl\u202eevil", 100) == "rtlevil"
    cut = clean_line("y" * 50, 10)
    assert cut.startswith("y" * 10) and "40 more characters cut" in cut


@given(st.text())
def test_clean_line_never_leaves_a_control_character(text: str) -> None:
    cleaned = clean_line(text, 10_000)
    assert not any(ord(ch) < 0x20 and ch != "\t" for ch in cleaned)
    assert "\x1b" not in cleaned and "\x7f" not in cleaned


def test_total_bytes_count_every_line_seen_kept_or_dropped() -> None:
    buffer = OutputBuffer(max_lines=4, max_bytes=64)
    lines = [f"line {n} " + "x" * n for n in range(50)]
    buffer.extend(lines)
    assert buffer.dropped > 0
    assert buffer.total_bytes == sum(len(line) + 1 for line in lines)
