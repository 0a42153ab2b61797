"""The program model knows which expressions carry other processes' data, through variables and maps."""

from __future__ import annotations

import pytest

from mcptrace_core.program.dataflow import content_reads
from mcptrace_core.program.parser import parse_program

CONTENT = [
    ("write-buffer", 'tracepoint:syscalls:sys_enter_write { printf("%s", str(args->buf, args->count)); }', "args->buf"),
    ("read-buffer-via-map", "tracepoint:syscalls:sys_enter_read { @b[tid] = args->buf; } "
     'tracepoint:syscalls:sys_exit_read /@b[tid]/ { printf("%s", str(@b[tid], args->ret)); }', "@b"),
    ("read-buffer-via-two-maps", "tracepoint:syscalls:sys_enter_read { @a[tid] = args->buf; } "
     "tracepoint:syscalls:sys_exit_read { @c[tid] = @a[tid]; } "
     "tracepoint:syscalls:sys_exit_read { printf(\"%s\", str(@c[tid])); }", "@c"),
    ("environment", 'tracepoint:syscalls:sys_enter_execve { printf("%s", str(*args->envp)); }', "args->envp"),
    ("arguments", "tracepoint:syscalls:sys_enter_execve { join(args->argv); }", "args->argv"),
    ("second-argument", 'tracepoint:syscalls:sys_enter_execve { printf("%s", str(args->argv[1])); }', "args->argv"),
    ("typed-line", 'uretprobe:/bin/bash:readline { $l = retval; printf("%s", str($l)); }', "$l"),
    ("history", 'uprobe:/bin/bash:add_history { printf("%s", str(arg0)); }', "arg0"),
    ("iovec", "tracepoint:syscalls:sys_enter_writev { "
     '$v = (struct iovec *)args->vec; printf("%s", str($v->iov_base)); }', "$v"),
    ("raw-syscall", 'tracepoint:raw_syscalls:sys_enter { printf("%s", str(args->args[1])); }', "args->args"),
    ("literal-address", "BEGIN { printf(\"%d\", *(uint64 *)0xffffffff81000000); }", "0xffffffff81000000"),
    ("socket-payload", 'tracepoint:syscalls:sys_enter_sendto { printf("%r", buf(args->buff, 64)); }', "args->buff"),
    ("kernel-buffer-bytes", 'kprobe:vfs_write { printf("%r", buf(arg1, 64)); }', "arg1"),
    ("loop-over-map", "tracepoint:syscalls:sys_enter_write { @w[tid] = args->buf; } "
     "interval:s:1 { for ($kv : @w) { printf(\"%s\", str($kv.1)); } }", "$kv"),
]
METADATA = [
    ("file-names", 'tracepoint:syscalls:sys_enter_openat { printf("%s", str(args->filename)); }'),
    ("program-name", 'tracepoint:syscalls:sys_enter_execve { printf("%s %s", str(args->argv[0]), str(*args->argv)); }'),
    ("read-sizes", "tracepoint:syscalls:sys_enter_read { @bytes[comm] = sum(args->count); @p = args->buf; }"),
    ("allocation-sizes", "uprobe:libc:malloc { @[comm] = hist(arg0); }"),
    ("latency", "uprobe:libc:getaddrinfo { @s[tid] = nsecs; } uretprobe:libc:getaddrinfo { @us = hist(nsecs - @s[tid]); }"),
    ("kernel-file-name", 'kprobe:do_sys_openat2 { printf("%s", str(arg1)); }'),
    ("kernel-task", "tracepoint:sched:sched_switch { @[curtask->pid] = count(); }"),
]


@pytest.mark.parametrize(("name", "program", "expression"), CONTENT, ids=[case[0] for case in CONTENT])
def test_content_is_found_with_its_expression(name: str, program: str, expression: str) -> None:
    reads = content_reads(parse_program(program))
    assert reads, name
    assert any(read.expression.startswith(expression) for read in reads), [read.expression for read in reads]
    assert all(read.at.line >= 1 and read.probe.text for read in reads)


@pytest.mark.parametrize(("name", "program"), METADATA, ids=[case[0] for case in METADATA])
def test_metadata_is_not_content(name: str, program: str) -> None:
    assert content_reads(parse_program(program)) == []
