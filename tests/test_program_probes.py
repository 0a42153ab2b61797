"""Probe specs read from text: aliases, targets, rates; and how hot a probe is."""

from __future__ import annotations

import pytest

from mcptrace_core.program.hotness import hotness
from mcptrace_core.program.probespec import ProbeSpec


@pytest.mark.parametrize(
    ("text", "canonical", "target", "function"),
    [
        ("t:sched:sched_switch", "tracepoint:sched:sched_switch", None, "sched_switch"),
        ("kr:vfs_read", "kretprobe:vfs_read", None, "vfs_read"),
        ("ur:/bin/bash:readline", "uretprobe:/bin/bash:readline", "/bin/bash", "readline"),
        ("U:/usr/lib/libpython3.so:python:function__entry", "usdt:/usr/lib/libpython3.so:python:function__entry",
         "/usr/lib/libpython3.so", "function__entry"),
        ("kprobe:tcp_sendmsg+0x10", "kprobe:tcp_sendmsg+0x10", None, "tcp_sendmsg"),
        ("BEGIN", "BEGIN", None, None),
    ],
)
def test_specs_expand_aliases_and_name_their_target(text: str, canonical: str, target: str | None,
                                                    function: str | None) -> None:
    spec = ProbeSpec.parse(text)
    assert (spec.canonical, spec.target, spec.function) == (canonical, target, function)
    assert spec.known_type


@pytest.mark.parametrize(
    ("text", "hz"),
    [("profile:hz:99", 99.0), ("profile:ms:10", 100.0), ("profile:us:100", 10_000.0), ("interval:s:5", 0.2),
     ("interval:hz:0", None), ("profile:hz:x", None), ("tracepoint:a:b", None)],
)
def test_rates_of_timed_probes(text: str, hz: float | None) -> None:
    value = ProbeSpec.parse(text).frequency_hz()
    assert value == pytest.approx(hz) if hz is not None else value is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("tracepoint:sched:sched_switch", "very_high"),
        ("tracepoint:raw_syscalls:sys_enter", "very_high"),
        ("t:syscalls:sys_enter_*", "very_high"),  # covers futex, read, write...
        ("tracepoint:syscalls:sys_enter_open*", "moderate"),  # open, openat: not every event of the host
        ("tracepoint:syscalls:sys_enter_execve", "moderate"),
        ("tracepoint:sched:sched_process_exec", "low"),
        ("kprobe:*", "very_high"),
        ("kprobe:vfs_read", "high"),
        ("uprobe:libc:malloc", "very_high"),
        ("profile:hz:99", "low"),
        ("profile:hz:4999", "high"),
        ("software:page-faults:1", "very_high"),
        ("BEGIN", "low"),
    ],
)
def test_hotness_of_known_events(text: str, level: str) -> None:
    assert hotness(ProbeSpec.parse(text)).level == level
