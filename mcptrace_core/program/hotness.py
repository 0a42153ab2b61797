"""How often a probe fires, as a class: known high-frequency events are where careless programs hurt.

A printf on every sched_switch or every syscall can emit hundreds of thousands of lines a second; a
wildcard over them multiplies it. The classes are rough orders of magnitude on a busy server:
``very_high`` (100k+/s), ``high`` (10k+/s), ``moderate`` (hundreds to thousands/s), ``low``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from mcptrace_core.program.probespec import ProbeSpec

HotnessClass = Literal["low", "moderate", "high", "very_high"]
HOTNESS_ORDER: tuple[HotnessClass, ...] = ("low", "moderate", "high", "very_high")


@dataclass(frozen=True)
class Hotness:
    level: HotnessClass
    reason: str

    @property
    def rank(self) -> int:
        return HOTNESS_ORDER.index(self.level)


# (pattern over the canonical spec, class, why, real events it covers). The first match wins, so
# specific entries come first. A wildcard in a program is as hot as the hottest real event it matches.
_KNOWN: tuple[tuple[str, HotnessClass, str, tuple[str, ...]], ...] = (
    ("tracepoint:sched:sched_switch", "very_high", "fires on every context switch", ()),
    ("tracepoint:sched:sched_wakeup*", "very_high", "fires on every task wakeup", ("tracepoint:sched:sched_wakeup",)),
    ("tracepoint:sched:sched_waking", "very_high", "fires on every task wakeup", ()),
    ("tracepoint:sched:sched_stat_*", "very_high", "fires on every scheduler accounting update",
     ("tracepoint:sched:sched_stat_runtime",)),
    ("tracepoint:sched:sched_migrate_task", "high", "fires on every task migration between CPUs", ()),
    ("tracepoint:raw_syscalls:*", "very_high", "fires on every system call of every process",
     ("tracepoint:raw_syscalls:sys_enter", "tracepoint:raw_syscalls:sys_exit")),
    ("tracepoint:syscalls:sys_*_futex", "very_high", "fires on every futex call (every contended lock)",
     ("tracepoint:syscalls:sys_enter_futex", "tracepoint:syscalls:sys_exit_futex")),
    ("tracepoint:syscalls:sys_*_read", "high", "fires on every read()",
     ("tracepoint:syscalls:sys_enter_read", "tracepoint:syscalls:sys_exit_read")),
    ("tracepoint:syscalls:sys_*_write", "high", "fires on every write()",
     ("tracepoint:syscalls:sys_enter_write", "tracepoint:syscalls:sys_exit_write")),
    ("tracepoint:syscalls:sys_*_*poll*", "high", "fires on every poll/epoll call",
     ("tracepoint:syscalls:sys_enter_epoll_wait", "tracepoint:syscalls:sys_exit_epoll_wait")),
    ("tracepoint:syscalls:sys_*_recv*", "high", "fires on every socket receive",
     ("tracepoint:syscalls:sys_enter_recvfrom", "tracepoint:syscalls:sys_exit_recvfrom")),
    ("tracepoint:syscalls:sys_*_send*", "high", "fires on every socket send",
     ("tracepoint:syscalls:sys_enter_sendto", "tracepoint:syscalls:sys_exit_sendto")),
    ("tracepoint:syscalls:sys_*_*", "moderate", "fires on every call of this system call", ()),
    ("tracepoint:irq:*", "very_high", "fires on every interrupt", ("tracepoint:irq:irq_handler_entry",)),
    ("tracepoint:irq_vectors:*", "very_high", "fires on every interrupt vector entry or exit",
     ("tracepoint:irq_vectors:local_timer_entry",)),
    ("tracepoint:timer:*", "very_high", "fires on every timer operation", ("tracepoint:timer:hrtimer_start",)),
    ("tracepoint:kmem:*", "very_high", "fires on every kernel memory allocation or free", ("tracepoint:kmem:kmalloc",)),
    ("tracepoint:exceptions:page_fault_*", "very_high", "fires on every page fault",
     ("tracepoint:exceptions:page_fault_user",)),
    ("tracepoint:net:*", "very_high", "fires on every packet", ("tracepoint:net:netif_receive_skb",)),
    ("tracepoint:skb:*", "very_high", "fires on every socket buffer operation", ("tracepoint:skb:consume_skb",)),
    ("tracepoint:napi:*", "very_high", "fires on every network poll", ("tracepoint:napi:napi_poll",)),
    ("tracepoint:rcu:*", "very_high", "fires on every RCU event", ("tracepoint:rcu:rcu_utilization",)),
    ("tracepoint:lock:*", "very_high", "fires on every lock operation", ("tracepoint:lock:contention_begin",)),
    ("tracepoint:workqueue:*", "high", "fires on every work item", ("tracepoint:workqueue:workqueue_execute_start",)),
    ("tracepoint:block:*", "high", "fires on every block I/O request", ("tracepoint:block:block_rq_issue",)),
    ("tracepoint:tcp:*", "moderate", "fires on TCP state changes and retransmits", ()),
    ("tracepoint:sock:*", "moderate", "fires on socket state changes", ()),
    ("kprobe:*schedule*", "very_high", "runs on every context switch", ("kprobe:schedule", "kprobe:__schedule")),
    ("kprobe:finish_task_switch*", "very_high", "runs on every context switch", ("kprobe:finish_task_switch",)),
    ("kprobe:*syscall*", "very_high", "runs on every system call", ("kprobe:do_syscall_64",)),
    ("kprobe:*alloc*", "very_high", "runs on every memory allocation", ("kprobe:__kmalloc", "kprobe:kmem_cache_alloc")),
    ("kprobe:*free*", "very_high", "runs on every memory free", ("kprobe:kfree", "kprobe:kmem_cache_free")),
    ("kprobe:*lock*", "very_high", "runs on every lock operation", ("kprobe:_raw_spin_lock", "kprobe:mutex_lock")),
    ("kprobe:ip_*", "very_high", "runs on every IP packet", ("kprobe:ip_rcv", "kprobe:ip_output")),
    ("kprobe:vfs_*", "high", "runs on every file operation", ("kprobe:vfs_read", "kprobe:vfs_write")),
    ("kprobe:tcp_*", "high", "runs on every TCP operation", ("kprobe:tcp_sendmsg", "kprobe:tcp_recvmsg")),
    ("kprobe:*", "moderate", "a kernel function; how often depends on the function", ()),
    ("uprobe:*:malloc", "very_high", "runs on every allocation of the traced program", ("uprobe:libc:malloc",)),
    ("uprobe:*:free", "very_high", "runs on every free of the traced program", ("uprobe:libc:free",)),
    ("uprobe:*:*", "moderate", "a user function; how often depends on the function", ()),
)
_KERNEL_ALIASES = {"kretprobe": "kprobe", "kfunc": "kprobe", "kretfunc": "kprobe", "uretprobe": "uprobe",
                   "rawtracepoint": "tracepoint"}


def hotness(spec: ProbeSpec) -> Hotness:
    """The class of ``spec``; a wildcard takes the class of the hottest known event it can match."""
    if spec.type in ("BEGIN", "END", "iter"):
        return Hotness("low", "runs once")
    if spec.type == "interval":
        return _rate_class(spec.frequency_hz(), per_cpu=False)
    if spec.type == "profile":
        return _rate_class(spec.frequency_hz(), per_cpu=True)
    if spec.type in ("software", "hardware"):
        period = spec.event_period()
        if period is not None and period < 1000:
            return Hotness("very_high", f"samples every {period} events on every CPU")
        return Hotness("moderate", "samples every CPU's event counter")
    kind = _KERNEL_ALIASES.get(spec.type, spec.type)
    parts = spec.parts
    if spec.type == "rawtracepoint" and len(parts) == 1:
        parts = ("*", parts[0])  # rawtracepoint:sys_enter names the event without its category
    name = ":".join((kind, *parts))
    if kind == "uprobe" and len(spec.parts) >= 2:
        name = f"uprobe:{spec.parts[0]}:{spec.parts[-1]}"
    if any(char in name for char in "*?[") and (hottest := _hottest_match(name)) is not None:
        return hottest
    for pattern, level, reason, _ in _KNOWN:
        if fnmatchcase(name, pattern):
            return Hotness(level, reason)
    return Hotness("low", "not a known high-frequency event")


def _hottest_match(pattern: str) -> Hotness | None:
    """A wildcard spec is as hot as the hottest real event it matches."""
    best: Hotness | None = None
    for known, level, reason, examples in _KNOWN:
        if any(fnmatchcase(example, pattern) for example in examples or (known,)):
            candidate = Hotness(level, f"the wildcard matches {examples[0] if examples else known}, which {reason}")
            if best is None or candidate.rank > best.rank:
                best = candidate
    return best


def _rate_class(hz: float | None, per_cpu: bool) -> Hotness:
    where = "on every CPU" if per_cpu else "on one CPU"
    if hz is None:  # a spelling whose rate cannot be read may be any rate: judge it as the worst
        return Hotness("very_high", f"fires at a rate its spec does not say clearly, {where}")
    if hz > 10_000:
        return Hotness("very_high", f"fires {hz:g} times a second {where}")
    if hz > 1_000:
        return Hotness("high", f"fires {hz:g} times a second {where}")
    if hz > 100:
        return Hotness("moderate", f"fires {hz:g} times a second {where}")
    return Hotness("low", f"fires {hz:g} times a second {where}")
