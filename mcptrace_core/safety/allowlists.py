"""The files a program may read without anyone's say-so, and where it may include headers from.

Both lists are judged against resolved paths (``mcptrace_core.safety.paths``), so a pattern here
names the real file: ``/proc/net/dev`` resolves to ``/proc/<pid>/net/dev``, ``/sys/block/sda/stat`` to
a path under ``/sys/devices``. A policy (``readable_files``, ``include_dirs``) replaces either list.
"""

from __future__ import annotations

_PROCESS_STATS = ("stat", "statm", "status", "schedstat", "sched", "io", "limits", "wchan", "comm", "oom_score",
                  "cgroup", "mountinfo", "mounts")
_NET_STATS = ("dev", "snmp", "snmp6", "netstat", "sockstat", "sockstat6", "softnet_stat")

DEFAULT_READABLE_FILES: tuple[str, ...] = (
    # system-wide statistics every user may read
    *(f"/proc/{name}" for name in (
        "loadavg", "stat", "meminfo", "uptime", "version", "cpuinfo", "vmstat", "diskstats", "interrupts",
        "softirqs", "schedstat", "zoneinfo", "buddyinfo", "swaps", "filesystems", "partitions",
    )),
    "/proc/pressure/*",
    "/proc/sys/kernel/hostname", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/pid_max",
    "/proc/sys/kernel/threads-max", "/proc/sys/vm/*", "/proc/sys/fs/file-nr",
    # per-process and per-thread statistics (not cmdline, environ, mem, maps: those carry content)
    *(f"/proc/[0-9]*/{name}" for name in _PROCESS_STATS),
    *(f"/proc/[0-9]*/task/[0-9]*/{name}" for name in _PROCESS_STATS),
    *(f"/proc/[0-9]*/net/{name}" for name in _NET_STATS),
    # /sys counters
    "/sys/devices/system/cpu/**", "/sys/devices/**/block/*/stat", "/sys/devices/**/block/*/*/stat",
    "/sys/devices/**/block/*/queue/*", "/sys/devices/**/net/*/statistics/*", "/sys/devices/**/net/*/mtu",
    "/sys/devices/**/net/*/operstate", "/sys/fs/cgroup/**/cpu.stat", "/sys/fs/cgroup/**/memory.current",
    "/sys/fs/cgroup/**/memory.stat", "/sys/fs/cgroup/**/io.stat", "/sys/fs/cgroup/**/pids.current",
    "/sys/fs/cgroup/**/*.pressure", "/sys/kernel/mm/transparent_hugepage/*",
)
"""World-readable statistics: counters and states, never contents, keys or other processes' memory."""

DEFAULT_INCLUDE_DIRS: tuple[str, ...] = (
    "/usr/include", "/usr/local/include", "/usr/src", "/lib/modules", "/usr/lib/modules",
    "/usr/lib/gcc", "/usr/lib/llvm-*", "/usr/lib/clang", "/usr/share/bpftrace",
)
"""System header directories (and the kernel's headers, which /lib/modules/*/build points into)."""
