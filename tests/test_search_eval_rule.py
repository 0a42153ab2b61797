"""The evaluation's matching rule (benchmarks/search_eval.py), as dev_queries.json's "about" states it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcptrace_core.models import Example

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from search_eval import relevant  # noqa: E402


def _example(*probes: str) -> Example:
    return Example(
        id="x.y",
        title="x y z",
        description="an example for the rule",
        program="BEGIN {}",
        probes=list(probes),
        category="misc",
        output="events",
    )


@pytest.mark.parametrize(
    ("probes", "patterns", "expected"),
    [
        (["t:sched:sched_switch"], ["tracepoint:sched:sched_(wakeup|switch)"], True),
        (["kretprobe:vfs_write"], ["kprobe:vfs_write"], True),
        (["kr:vfs_write"], ["kretprobe:vfs_write"], True),
        (["ur:/bin/bash:readline"], ["uprobe:.*bash.*:readline"], True),
        (["tracepoint:syscalls:sys_enter_openat"], ["tracepoint:syscalls:sys_enter_open"], False),
        (["tracepoint:syscalls:sys_enter_openat2"], ["tracepoint:syscalls:sys_enter_(open|openat)"], False),
        (["BEGIN", "profile:hz:49"], ["profile:hz:[0-9]+"], True),
        (["kprobe:vfs_read"], ["tracepoint:syscalls:sys_enter_read"], False),
        (["uprobe:/lib/libc.so.6:malloc"], ["kprobe:malloc"], False),
    ],
)
def test_a_result_is_relevant_when_a_probe_fully_matches_a_pattern(
    probes: list[str], patterns: list[str], expected: bool
) -> None:
    assert relevant(_example(*probes), patterns) is expected
