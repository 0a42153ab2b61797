"""Facts of the bpftrace language that analysis needs: its builtin functions and variables."""

from __future__ import annotations

UNSAFE_BUILTINS = frozenset({"system", "signal", "override"})
"""Functions bpftrace refuses to run without --unsafe."""

BUILTIN_FUNCTIONS = frozenset({
    "avg", "buf", "bswap", "cat", "cgroup_path", "cgroupid", "clear", "count", "delete", "exit", "hist", "join",
    "kaddr", "kptr", "kstack", "ksym", "lhist", "macaddr", "max", "min", "ntop", "offsetof", "override", "path",
    "print", "printf", "reg", "signal", "sizeof", "skboutput", "stats", "str", "strerror", "strftime", "strncmp",
    "sum", "system", "time", "uaddr", "uptr", "ustack", "usym", "unwatch", "zero",
})
BUILTIN_VARIABLES = frozenset({
    "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9", "args", "cgroup", "comm",
    "cpid", "cpu", "curtask", "elapsed", "func", "gid", "jiffies", "kstack", "nsecs", "numaid", "pid", "probe",
    "rand", "retval", "sarg0", "sarg1", "sarg2", "sarg3", "sarg4", "sarg5", "tid", "uid", "username", "ustack",
})
