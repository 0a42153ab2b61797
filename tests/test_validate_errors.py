"""Every error category, produced by a real bpftrace run and read back into a structured error."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from mcptrace_bpftrace.executable import locate
from mcptrace_bpftrace.host import kprobe_events_present
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
        ("resource", "BEGIN { exit(); }", False, {"BPFTRACE_STRLEN": "300"}, None, "exceeds the current maximum"),
        ("attach", "tracepoint:ftrace:function { } BEGIN { exit(); }", False, None, None, "Error attaching probe"),
        ("verifier", "BEGIN { $i = 0; while ($i >= 0) { @ = 1; } exit(); }", False, None, None, "Error loading program"),
        ("verifier", 'tracepoint:syscalls:sys_enter_openat { printf("%s %s %s %s %s\\n", str(args->filename), '
         "str(args->filename), str(args->filename), str(args->filename), str(args->filename)); }", True,
         {"BPFTRACE_STRLEN": "200"}, None, "stack limit"),
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
