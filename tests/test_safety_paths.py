"""Paths are judged by what they resolve to: real symlinks, real /proc links, relative to a real cwd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcptrace_core.program.probespec import ProbeSpec
from mcptrace_core.safety.paths import matches, resolve_path


def test_proc_root_and_relative_paths_resolve_to_the_file_they_open() -> None:
    assert resolve_path("/proc/self/root/etc/shadow").path == "/etc/shadow"
    assert resolve_path("/proc/1/root/etc/shadow").path == "/etc/shadow"
    assert resolve_path("/proc/thread-self/root//etc/./../etc/shadow").path == "/etc/shadow"
    assert resolve_path("etc/shadow", "/").path == "/etc/shadow"
    assert resolve_path("../../etc/shadow", "/usr/share").path == "/etc/shadow"


def test_symlinks_are_followed_and_loops_are_unknown(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    (tmp_path / "relative").symlink_to("link")
    (tmp_path / "dir").symlink_to("/etc")
    (tmp_path / "loop").symlink_to("loop")
    assert resolve_path(str(tmp_path / "relative")).path == str(tmp_path / "secret")
    assert resolve_path(str(tmp_path / "dir" / "shadow")).path == "/etc/shadow"
    assert resolve_path("relative", str(tmp_path)).path == str(tmp_path / "secret")
    loop = resolve_path(str(tmp_path / "loop"))
    assert loop.path is None and "links" in loop.reason


@pytest.mark.parametrize("written", [
    "/etc/sh%cdow", "/proc/%d/environ", "%s", "/proc/self/cwd/etc/shadow", "/proc/1/fd/3", "/dev/stdin",
    "/proc/self/task/1/cwd/x", "/proc/1/map_files/x", "",
])
def test_what_the_run_decides_is_unknown(written: str) -> None:
    resolved = resolve_path(written, "/")
    assert resolved.path is None and resolved.reason


def test_proc_net_resolves_to_the_process_it_belongs_to() -> None:
    resolved = resolve_path("/proc/net/dev")
    assert resolved.path == f"/proc/{os.getpid()}/net/dev"


def test_patterns_stay_within_components() -> None:
    assert matches("/proc/12/stat", "/proc/[0-9]*/stat")
    assert not matches("/proc/12/root/stat", "/proc/[0-9]*/stat")
    assert matches("/sys/devices/pci0/x/block/sda/stat", "/sys/devices/**/block/*/stat")
    assert matches("/sys/devices/system/cpu/cpu0/online", "/sys/devices/system/cpu/**")
    assert not matches("/sys/devices/system/cpux", "/sys/devices/system/cpu/**")


@pytest.mark.parametrize(("written", "canonical", "hz"), [
    ('interval:"us":1', "interval:us:1", 1e6),
    ('profile:"hz":99999', "profile:hz:99999", 99999),
    ("p:hz:99", "profile:hz:99", 99),
    ('i:" ms ":10', "interval:ms:10", 100),
    ("profile:99hz", "profile:99hz", 99),
])
def test_probe_specs_have_one_canonical_form(written: str, canonical: str, hz: float) -> None:
    spec = ProbeSpec.parse(written)
    assert spec.canonical == canonical
    assert spec.frequency_hz() == pytest.approx(hz)


def test_a_rate_that_cannot_be_read_is_not_a_known_rate() -> None:
    assert not ProbeSpec.parse("profile:hz:lots").rate_known
    assert not ProbeSpec.parse("interval:s:0").rate_known
    assert ProbeSpec.parse("tracepoint:sched:sched_switch").rate_known
