"""Every error category, produced by a real bpftrace run and read back into a structured error."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mcptrace_bpftrace.executable import locate
from mcptrace_bpftrace.host import kprobe_events_present
from mcptrace_bpftrace.limits import LimitError, limits_env
from mcptrace_bpftrace.stderr import HostFacts, parse_errors
from tests.conftest import requires_bpftrace

pytestmark = requires_bpftrace

HOST = HostFacts(kprobes_usable=kprobe_events_present())


def bpftrace_stderr(program: str, *, dry_run: bool = False, env: dict[str, str] | None = None,
                    prefix: tuple[str, ...] = ()) -> tuple[list[str], int]:
    bpftrace = locate(None)
    argv = [*prefix, bpftrace.path, *(bpftrace.check_flags if dry_run else []), "-e", program]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
                               check=False)
    return completed.stderr.splitlines(), completed.returncode


@pytest.mark.parametrize(
    ("category", "program", "dry_run", "env", "located", "words"),
    [
        ("syntax", 'BEGIN { printf("x" }', True, None, (1, 20), "syntax error"),
        ("semantic", "BEGIN { @x = $y; }", True, None, (1, 14), "Undefined or undeclared variable"),
        ("probe_not_found", "tracepoint:syscalls:sys_enter_nonexistent { }", True, None, (1, 1), "tracepoint not found"),
        ("probe_not_found", "uprobe:/nonexistent/binary:main { }", True, None, (1, 1), "does not exist"),
        ("unsafe_builtin", 'BEGIN { system("true"); exit(); }', False, None, (1, 9), "unsafe function"),
        ("unsupported_feature", "kfunc:vfs_read { }", True, None, (1, 1), "not available for your kernel"),
        ("resource", "tracepoint:sched:sched_switch, tracepoint:sched:sched_wakeup, tracepoint:sched:sched_waking { } "
         "BEGIN { exit(); }", False, {"BPFTRACE_MAX_PROBES": "2"}, None, "exceeds the current limit"),
        ("attach", "tracepoint:ftrace:function { } BEGIN { exit(); }", False, None, None, "Error attaching probe"),
        # 0.17: "Error loading program: BEGIN (try -v)"; 0.23: "Error loading BPF program for BEGIN_1."
        ("verifier", "BEGIN { $i = 0; while ($i >= 0) { @ = 1; } exit(); }", False, None, None, "Error loading"),
    ],
)
def test_each_category_from_a_real_run(category: str, program: str, dry_run: bool, env: dict[str, str] | None,
                                       located: tuple[int, int] | None, words: str) -> None:
    stderr, exit_code = bpftrace_stderr(program, dry_run=dry_run, env=env)
    assert exit_code != 0, stderr
    errors = parse_errors(stderr, exit_code, HOST)
    assert errors, stderr
    first = errors[0]
    assert first.category == category, (first, stderr)
    assert words in first.message
    assert first.hint
    if located is not None:
        assert (first.line, first.col) == located
    assert not first.transient


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is needed to run as another user")
def test_permission_category_from_a_run_as_nobody() -> None:
    stderr, exit_code = bpftrace_stderr(
        "BEGIN { exit(); }", prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    )
    errors = parse_errors(stderr, exit_code, HOST)
    assert [error.category for error in errors] == ["permission"], stderr


@pytest.mark.skipif(HOST.kprobes_usable, reason="this kernel has kprobes: their attach errors are plain attach errors")
def test_a_kprobe_on_a_kernel_without_kprobes_is_an_unsupported_feature() -> None:
    stderr, exit_code = bpftrace_stderr("kprobe:vfs_read { } BEGIN { exit(); }")
    errors = parse_errors(stderr, exit_code, HOST)
    assert errors[0].category == "unsupported_feature"
    assert "no kprobes" in (errors[0].hint or "")


def test_a_busy_resource_is_transient_fake_stderr() -> None:
    """FAKE stderr line: an EBUSY from perf_event_open cannot be produced on demand on this host."""
    errors = parse_errors(["ERROR: perf_event_open: Device or resource busy"], 1, HOST)
    assert errors[0].transient and errors[0].category == "resource"


FIVE_STRINGS = ('tracepoint:syscalls:sys_enter_openat { printf("%s %s %s %s %s\\n", str(args->filename), '
                "str(args->filename), str(args->filename), str(args->filename), str(args->filename)); }")


def test_string_limits_are_the_ones_of_this_bpftrace() -> None:
    """0.17 keeps str() on the 512-byte BPF stack (STRLEN at most 200); 0.23 does not, and reads the limit
    as BPFTRACE_MAX_STRLEN (the old name still works but warns on every run)."""
    features = locate(None).features
    name = features.env_name("BPFTRACE_STRLEN")
    too_long, too_long_code = bpftrace_stderr("BEGIN { exit(); }", env={name: "300"})
    crowded, crowded_code = bpftrace_stderr(FIVE_STRINGS, dry_run=True, env={name: "200"})
    if features.strlen_max is None:
        assert name == "BPFTRACE_MAX_STRLEN"
        assert too_long_code == 0 and not any("deprecated" in line for line in too_long), too_long
        assert crowded_code == 0, crowded
        assert limits_env({"BPFTRACE_STRLEN": 300}, features) == {"BPFTRACE_MAX_STRLEN": "300"}
        return
    assert name == "BPFTRACE_STRLEN"
    (error, *_) = parse_errors(too_long, too_long_code, HOST)
    assert error.category == "resource" and "exceeds the current maximum" in error.message and error.hint
    (error, *_) = parse_errors(crowded, crowded_code, HOST)
    assert error.category == "verifier" and "stack limit" in error.message and error.hint
    with pytest.raises(LimitError, match="maximum of 200"):
        limits_env({"BPFTRACE_STRLEN": 300}, features)


def test_limits_are_passed_under_the_names_this_bpftrace_reads() -> None:
    features = locate(None).features
    env = limits_env({"BPFTRACE_MAP_KEYS_MAX": 2, "BPFTRACE_CAT_BYTES_MAX": 64}, features)
    stderr, exit_code = bpftrace_stderr("BEGIN { @[1] = 1; @[2] = 2; @[3] = 3; exit(); }", env=env)
    assert exit_code == 0 and not any("deprecated" in line for line in stderr), stderr
    if "BPFTRACE_MAX_MAP_KEYS" in locate(None).help_text:
        assert set(env) == {"BPFTRACE_MAX_MAP_KEYS", "BPFTRACE_MAX_CAT_BYTES"}
    else:
        assert set(env) == {"BPFTRACE_MAP_KEYS_MAX", "BPFTRACE_CAT_BYTES_MAX"}


def test_the_compile_check_of_this_bpftrace_neither_runs_nor_attaches_the_program() -> None:
    """0.23's -d runs the program and its --dry-run attaches every probe; the check must do neither."""
    bpftrace = locate(None)
    folder = Path(tempfile.mkdtemp(prefix="mt"))  # short: 0.17 refuses string literals over 64 bytes
    marker = folder / "ran"
    program = (f'BEGIN {{ system("touch {marker}"); exit(); }} '
               "uprobe:/bin/sh:mcptrace_no_such_function { }")  # would fail to attach
    completed = subprocess.run([bpftrace.path, *bpftrace.check_flags, "--unsafe", "-e", program],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert not marker.exists()
    assert "Attaching" not in completed.stdout + completed.stderr
    folder.rmdir()
