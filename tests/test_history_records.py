"""What the history keeps of a run's output pages exactly like the live output did, within its caps; a new file
is set up once however many servers open it together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mcptrace_core.config import HistorySettings
from mcptrace_core.history.records import kept_ends
from mcptrace_core.history.schema import MIGRATIONS
from mcptrace_core.history.store import HistoryStore
from mcptrace_core.runs.buffer import OutputBuffer


def buffer_of(lines: list[str], max_lines: int) -> OutputBuffer:
    buffer = OutputBuffer(max_lines=max_lines, max_bytes=1 << 30)
    buffer.extend(lines)
    return buffer


@given(
    count=st.integers(0, 300),
    run_cap=st.integers(2, 120),
    history_cap=st.integers(0, 80),
    width=st.integers(1, 30),
)
def test_restored_output_pages_like_the_live_one(count: int, run_cap: int, history_cap: int, width: int) -> None:
    live = buffer_of([f"{n:0{width}d}" for n in range(count)], run_cap)
    head, tail = kept_ends(live, history_cap)
    assert len(head) + len(tail) <= history_cap
    restored = OutputBuffer.restore(head, tail, live.total)
    assert restored.total == live.total
    assert restored.dropped == live.total - len(head) - len(tail)
    offset, seen = 0, []
    while offset < restored.total:  # read it all as a client would, following next offsets
        page = restored.page(offset, 7)
        if not page.lines:
            break
        seen.extend(page.lines)
        offset = page.offset + len(page.lines)
    assert seen == head + tail
    assert all(int(line) == index for index, line in enumerate(head))  # lines keep their numbers
    assert all(int(line) == live.total - len(tail) + index for index, line in enumerate(tail))


def test_long_lines_are_kept_within_the_byte_cap() -> None:
    live = buffer_of(["x" * 1000 for _ in range(100)], 1000)
    head, tail = kept_ends(live, max_lines=100, max_bytes=10_000)
    assert len(head) == 4 and len(tail) == 5  # 1001 bytes a line: 4 fit in the first half, 5 in the rest
    assert sum(len(line) + 1 for line in head + tail) <= 10_000


def test_stores_opened_together_on_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: HistoryStore.open(HistorySettings(path=path)), range(4)))
    try:
        assert [store.problem for store in stores] == [None] * 4
        assert stores[0].read("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    finally:
        for store in stores:
            store.close()
