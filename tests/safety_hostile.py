"""Hostile programs written for this project, with the verdict each built-in policy must give, and harmless
programs that must stay allowed. Shared by the corpus test, the leak test and the property tests.

``{planted}`` is a 0600 file holding a random marker, ``{planted_link}`` a symlink to it, ``{shadow_link}``
a symlink to /etc/shadow, ``{fifo}`` a FIFO, ``{libq}`` a symlink to libssl named libq.so, ``{libz}`` a
symlink to libpam, ``{libk}`` one to libcrypt, ``{notsudo}`` a copy of sudo: see ``plant``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

B, C, A = "block", "confirm", "allow"

# (name, program, (strict, standard, permissive), the rule that must fire)
HOSTILE: list[tuple[str, str, tuple[str, str, str], str]] = [
    # -- secrets read with cat(), by what the path resolves to
    ("cat-shadow", 'BEGIN { cat("/etc/shadow"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-proc-self-root", 'BEGIN { cat("/proc/self/root/etc/shadow"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-proc-1-root", 'BEGIN { cat("/proc/1/root/etc/shadow"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-thread-self-root", 'BEGIN { cat("/proc/thread-self/root//etc/./shadow"); exit(); }', (B, B, B),
     "sensitive-file-read"),
    ("cat-relative-climb", 'BEGIN { cat("../../../../../../../../etc/shadow"); exit(); }', (B, B, B),
     "sensitive-file-read"),
    ("cat-dotdot", 'BEGIN { cat("/etc/../etc//gshadow"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-format-specifier", 'BEGIN { cat("/etc/sh%cdow", 97); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-huge-width", 'BEGIN { cat("%999999999s", "/etc/shadow"); exit(); }', (B, C, C),
     "sensitive-file-read"),  # formatting it would cost the server a gigabyte: the name is unknown instead
    ("cat-format-traced", 'tracepoint:syscalls:sys_enter_openat { cat("/etc/%s", str(args->filename)); }', (B, C, C),
     "sensitive-file-read"),
    ("cat-planted", 'BEGIN { cat("{planted}"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-planted-link", 'BEGIN { cat("{planted_link}"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-planted-proc-root", 'BEGIN { cat("/proc/self/root{planted}"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-shadow-link", 'BEGIN { cat("{shadow_link}"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-proc-cwd", 'BEGIN { cat("/proc/self/cwd/etc/shadow"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-proc-fd", 'BEGIN { cat("/proc/1/fd/0"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-dev-stdin", 'BEGIN { cat("/dev/stdin"); exit(); }', (B, C, C), "sensitive-file-read"),
    ("cat-environ-format", "tracepoint:sched:sched_process_exec { cat(\"/proc/%d/environ\", pid); }", (B, B, B),
     "sensitive-file-read"),
    ("cat-own-environ", 'BEGIN { cat("/proc/self/environ"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-kcore", 'BEGIN { cat("/proc/kcore"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-host-key", 'BEGIN { cat("/etc/ssh/ssh_host_ed25519_key"); exit(); }', (B, B, B), "sensitive-file-read"),
    ("cat-traced-name", 'tracepoint:syscalls:sys_enter_openat { cat("%s", str(args->filename)); }', (B, C, C),
     "sensitive-file-read"),
    ("cat-cmdline", 'BEGIN { cat("/proc/1/cmdline"); exit(); }', (B, C, C), "sensitive-file-read"),
    # -- files pulled in by #include
    ("include-planted", '#include "{planted}"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-climb", "#include <../../../../../..{planted}>\nBEGIN { exit(); }", (B, B, B), "include-file"),
    ("include-digraph", '%:include "/etc/shadow"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-continued", '#inc\\\nlude "/etc/passwd"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-device", '#include "/dev/zero"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-proc", '#include "/proc/self/environ"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-fifo", '#include "{fifo}"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-macro", '#define F "/etc/shadow"\n#include F\nBEGIN { exit(); }', (B, B, B), "include-file"),
    ("include-link-to-secret", '#include "{shadow_link}"\nBEGIN { exit(); }', (B, B, B), "include-file"),
    # -- content capture
    ("write-buffer", 'tracepoint:syscalls:sys_enter_write { printf("%s\\n", str(args->buf, args->count)); }',
     (B, C, A), "content-capture"),
    ("read-buffer-via-map", "tracepoint:syscalls:sys_enter_read { @b[tid] = args->buf; }\n"
     'tracepoint:syscalls:sys_exit_read /@b[tid]/ { printf("%s\\n", str(@b[tid], args->ret)); delete(@b[tid]); }',
     (B, C, A), "content-capture"),
    ("read-buffer-via-two-maps", "tracepoint:syscalls:sys_enter_read { @a[tid] = args->buf; }\n"
     "tracepoint:syscalls:sys_exit_read { @c[tid] = @a[tid]; }\n"
     'tracepoint:syscalls:sys_exit_read /@c[tid]/ { @[str(@c[tid])] = count(); }', (B, C, A), "content-capture"),
    ("environment", 'tracepoint:syscalls:sys_enter_execve { printf("%s\\n", str(*args->envp)); }', (B, C, A),
     "content-capture"),
    ("all-arguments", "tracepoint:syscalls:sys_enter_execve { join(args->argv); }", (B, C, A), "content-capture"),
    ("second-argument", 'tracepoint:syscalls:sys_enter_execve { printf("%s\\n", str(args->argv[1])); }', (B, C, A),
     "content-capture"),
    ("bash-history", 'uprobe:/bin/bash:add_history { printf("%s\\n", str(arg0)); }', (B, C, A), "content-capture"),
    ("bash-readline", 'uretprobe:/bin/bash:readline { printf("%s\\n", str(retval)); }', (B, C, A),
     "content-capture"),
    ("readline-via-variable", 'uretprobe:/bin/bash:readline { $line = retval; @[str($line)] = count(); }', (B, C, A),
     "content-capture"),
    ("iovec", "tracepoint:syscalls:sys_enter_writev { $v = (uint64 *)args->vec; printf(\"%s\\n\", str(*$v)); }",
     (B, C, A), "content-capture"),
    ("socket-payload", 'tracepoint:syscalls:sys_enter_sendto { printf("%r\\n", buf(args->buff, 64)); }', (B, C, A),
     "content-capture"),
    ("socket-receive-via-map", "tracepoint:syscalls:sys_enter_recvfrom { @r[tid] = args->ubuf; }\n"
     'tracepoint:syscalls:sys_exit_recvfrom /@r[tid]/ { printf("%s\\n", str(@r[tid])); delete(@r[tid]); }',
     (B, C, A), "content-capture"),
    ("raw-syscall-argument", 'tracepoint:raw_syscalls:sys_enter /pid == 1/ { printf("%s\\n", str(args->args[1])); }',
     (B, C, A), "content-capture"),
    ("literal-address", 'BEGIN { printf("%d\\n", *(uint64 *)0xffffffff81000000); exit(); }', (B, C, A),
     "content-capture"),
    ("getenv-result", 'uretprobe:libc:getenv { printf("%s\\n", str(retval)); }', (B, C, A), "content-capture"),
    ("libc-write-buffer", 'uprobe:libc:write { printf("%r\\n", buf(arg1, 32)); }', (B, C, A), "content-capture"),
    # -- libraries by identity, not by name
    ("tls-by-symlink", 'uprobe:{libq}:SSL_write { printf("%s\\n", str(arg1, arg2)); }', (B, C, A), "tls-plaintext"),
    ("tls-by-symlink-via-map", "uprobe:{libq}:SSL_read { @buf[tid] = arg1; }\n"
     'uretprobe:{libq}:SSL_read /@buf[tid]/ { printf("%s\\n", str(@buf[tid])); delete(@buf[tid]); }', (B, C, A),
     "tls-plaintext"),
    ("pam-by-symlink", "uprobe:{libz}:pam_start { @[comm] = count(); }", (B, C, A), "credential-program"),
    ("crypt-by-symlink", 'uprobe:{libk}:crypt { printf("%s\\n", str(arg0)); }', (B, C, A), "credential-program"),
    ("sudo-copy", "uprobe:{notsudo}:main { @ = count(); }", (B, C, A), "credential-program"),
    # -- rates and floods, however spelled
    ("interval-quoted-unit", 'interval:"us":1 { printf("x\\n"); }', (B, B, B), "sampling-frequency"),
    ("interval-alias", 'i:us:1 { printf("x\\n"); }', (B, B, B), "sampling-frequency"),
    ("interval-split-quotes", 'interval:"u""s":1 { @ = count(); }', (B, B, B), "unanalysed-program"),
    ("profile-quoted-unit", 'profile:"hz":99999 { @[kstack] = count(); }', (B, B, A), "sampling-frequency"),
    ("profile-alias", "p:hz:5000 { @[kstack] = count(); }", (B, C, A), "sampling-frequency"),
    ("profile-unreadable-rate", "profile:hz:lots { @ = count(); }", (B, C, A), "sampling-frequency"),
    ("interval-zero", "interval:ms:0 { @ = count(); }", (B, C, A), "sampling-frequency"),
    ("flood-true-filter", 'tracepoint:raw_syscalls:sys_enter /1/ { printf("%d\\n", pid); }', (B, C, A),
     "hot-probe-output"),
    ("flood-if-true", 'tracepoint:raw_syscalls:sys_enter { if (1) { printf("%d\\n", pid); } }', (B, C, A),
     "hot-probe-output"),
    ("flood-idle-pid", 'tracepoint:sched:sched_switch /args->prev_pid == 0/ { printf("%d\\n", cpu); }', (B, C, A),
     "hot-probe-output"),  # pid 0 is every CPU's idle task: the filter narrows nothing
    ("flood-parent-pid", 'tracepoint:raw_syscalls:sys_enter /curtask->real_parent->pid == 1 && args->id == 0/ '
     '{ printf("%d\\n", pid); }', (B, C, A), "hot-probe-output"),
    ("flood-or-true", 'tracepoint:raw_syscalls:sys_enter /pid == 1 || 1/ { printf("%d\\n", pid); }', (B, C, A),
     "hot-probe-output"),
    ("flood-else-branch", 'tracepoint:raw_syscalls:sys_enter { if (pid == 1) { @ = count(); } else { printf("x\\n"); } }',
     (B, C, A), "hot-probe-output"),
    ("flood-quoted-spec", 't:"raw_syscalls":"sys_enter" { printf("%d\\n", pid); }', (B, C, A), "hot-probe-output"),
    ("flood-wide-filter", 'tracepoint:sched:sched_switch /args->prev_pid > 0/ { printf("%d\\n", pid); }', (B, C, A),
     "hot-probe-output"),
    ("flood-then-exit", 'tracepoint:raw_syscalls:sys_enter { printf("%d\\n", pid); exit(); }', (B, C, A),
     "hot-probe-output"),  # it prints on every event until bpftrace has detached
    ("flood-fast-interval", 'interval:us:50 { printf("tick\\n"); }', (B, B, A), "hot-probe-output"),
]

# Programs that must stay allowed at every level (with the words the old rules tripped on).
HARMLESS: list[tuple[str, str]] = [
    ("words-in-strings", 'BEGIN { printf("system shadow cat(/etc/shadow) SSL_write\\n"); exit(); }'),
    ("words-in-comments", '// cat("/etc/shadow"); #include "/etc/shadow"\nBEGIN { /* str(args->buf) */ exit(); }'),
    ("count-reads", "tracepoint:syscalls:sys_enter_read { @reads[comm] = count(); }"),
    ("bytes-read", "tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes[comm] = sum(args->ret); }"),
    ("buffer-pointer-kept-not-read", "tracepoint:syscalls:sys_enter_read { @sizes = hist(args->count); }"),
    ("opened-files", 'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }'),
    ("program-names", 'tracepoint:syscalls:sys_enter_execve { printf("%s\\n", str(args->argv[0])); }'),
    ("exec-file-names", "tracepoint:syscalls:sys_enter_execve { @[str(args->filename)] = count(); }"),
    ("loadavg", 'BEGIN { cat("/proc/loadavg"); exit(); }'),
    ("own-status", 'BEGIN { cat("/proc/self/status"); exit(); }'),
    ("net-dev", 'BEGIN { cat("/proc/net/dev"); exit(); }'),
    ("cpu-online", 'BEGIN { cat("/sys/devices/system/cpu/online"); exit(); }'),
    ("pressure", 'interval:s:1 { cat("/proc/pressure/cpu"); exit(); }'),
    ("system-header", "#include <linux/types.h>\n#include <stdint.h>\nBEGIN { exit(); }"),
    ("malloc-sizes", "uprobe:libc:malloc { @sizes = hist(arg0); }"),
    ("tls-latency", "uprobe:libssl:SSL_read { @s[tid] = nsecs; }\n"
     "uretprobe:libssl:SSL_read /@s[tid]/ { @us = hist((nsecs - @s[tid]) / 1000); delete(@s[tid]); }"),
    ("profile-99", "profile:hz:99 { @[kstack] = count(); }"),
    ("profile-quoted-99", 'profile:"hz":99 { @[kstack] = count(); }'),
    ("interval-print", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } interval:s:1 { print(@); clear(@); }"),
    ("flood-filtered-pid", 'tracepoint:raw_syscalls:sys_enter /pid == 1234/ { printf("%d\\n", args->id); }'),
    ("flood-filtered-comm", 'tracepoint:raw_syscalls:sys_enter /comm == "nginx"/ { printf("%d\\n", args->id); }'),
    ("flood-guarded-tid", 'tracepoint:sched:sched_switch { if (tid == 1) { printf("x\\n"); } }'),
    ("shadow-compared", 'tracepoint:syscalls:sys_enter_openat /str(args->filename) == "/etc/shadow"/ '
     "{ @[comm] = count(); }"),
]


@dataclass(frozen=True)
class Planted:
    """Real files the hostile programs point at."""

    marker: str
    values: dict[str, str]

    def fill(self, program: str) -> str:
        for key, value in self.values.items():
            program = program.replace("{" + key + "}", value)
        return program


def plant(directory: Path) -> Planted:
    """A 0600 file holding a random marker, links to it and to real secrets and libraries, a FIFO."""
    marker = "MARK" + secrets.token_hex(8)
    planted = directory / "planted-secret.txt"
    planted.write_text(f"{marker}\n")
    planted.chmod(0o600)
    (directory / "planted-link").symlink_to(planted)
    (directory / "shadow-link").symlink_to("/etc/shadow")
    os.mkfifo(directory / "planted.fifo")
    values = {"planted": str(planted), "planted_link": str(directory / "planted-link"),
              "shadow_link": str(directory / "shadow-link"), "fifo": str(directory / "planted.fifo")}
    for key, name, pattern in (("libq", "libq.so", "libssl.so.*"), ("libz", "libz9.so", "libpam.so.*"),
                               ("libk", "libk7.so", "libcrypt.so.*")):
        found = sorted(Path("/usr/lib/x86_64-linux-gnu").glob(pattern)) or sorted(Path("/lib").glob(pattern))
        if found:
            (directory / name).symlink_to(found[0])
        values[key] = str(directory / name)
    sudo = shutil.which("sudo")
    if sudo:
        shutil.copyfile(sudo, directory / "notsudo")
    values["notsudo"] = str(directory / "notsudo")
    return Planted(marker, values)
