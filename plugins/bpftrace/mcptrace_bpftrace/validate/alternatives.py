"""Tracepoints that observe the same event as a kernel function, for hosts where kprobes do not work.

Written for mcptrace from the kernel's own names: a stable tracepoint beats a kprobe anyway (it
survives kernel upgrades and inlining). Only tracepoints that exist on the host are ever suggested.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

# kernel function -> tracepoints covering the same event (entry first, then exit).
KPROBE_TO_TRACEPOINTS: dict[str, tuple[str, ...]] = {
    "vfs_read": ("syscalls:sys_enter_read", "syscalls:sys_exit_read"),
    "vfs_readv": ("syscalls:sys_enter_readv", "syscalls:sys_exit_readv"),
    "vfs_write": ("syscalls:sys_enter_write", "syscalls:sys_exit_write"),
    "vfs_writev": ("syscalls:sys_enter_writev", "syscalls:sys_exit_writev"),
    "vfs_open": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "do_sys_open": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "do_sys_openat2": ("syscalls:sys_enter_openat", "syscalls:sys_enter_openat2", "syscalls:sys_exit_openat"),
    "security_file_open": ("syscalls:sys_enter_openat", "syscalls:sys_exit_openat"),
    "vfs_fsync": ("syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"),
    "vfs_fsync_range": ("syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"),
    "vfs_unlink": ("syscalls:sys_enter_unlinkat", "syscalls:sys_enter_unlink"),
    "vfs_rename": ("syscalls:sys_enter_renameat2", "syscalls:sys_enter_rename"),
    "vfs_mkdir": ("syscalls:sys_enter_mkdirat", "syscalls:sys_enter_mkdir"),
    "vfs_statx": ("syscalls:sys_enter_statx", "syscalls:sys_enter_newfstatat"),
    "tcp_set_state": ("sock:inet_sock_set_state",),
    "tcp_connect": ("sock:inet_sock_set_state", "syscalls:sys_enter_connect"),
    "tcp_v4_connect": ("sock:inet_sock_set_state", "syscalls:sys_enter_connect"),
    "tcp_v6_connect": ("sock:inet_sock_set_state", "syscalls:sys_enter_connect"),
    "inet_csk_accept": ("sock:inet_sock_set_state", "syscalls:sys_exit_accept4", "syscalls:sys_exit_accept"),
    "tcp_v4_syn_recv_sock": ("sock:inet_sock_set_state",),
    "tcp_v6_syn_recv_sock": ("sock:inet_sock_set_state",),
    "tcp_close": ("sock:inet_sock_set_state",),
    "tcp_retransmit_skb": ("tcp:tcp_retransmit_skb",),
    "tcp_send_reset": ("tcp:tcp_send_reset",),
    "tcp_drop": ("skb:kfree_skb",),
    "kfree_skb": ("skb:kfree_skb",),
    "tcp_sendmsg": ("syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_write"),
    "tcp_recvmsg": ("syscalls:sys_enter_recvfrom", "syscalls:sys_enter_recvmsg", "syscalls:sys_enter_read"),
    "udp_sendmsg": ("syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg"),
    "udp_recvmsg": ("syscalls:sys_enter_recvfrom", "syscalls:sys_enter_recvmsg"),
    "ip_rcv": ("net:netif_receive_skb",),
    "netif_receive_skb": ("net:netif_receive_skb",),
    "dev_queue_xmit": ("net:net_dev_queue", "net:net_dev_xmit"),
    "do_nanosleep": ("syscalls:sys_enter_nanosleep", "syscalls:sys_enter_clock_nanosleep"),
    "hrtimer_nanosleep": ("syscalls:sys_enter_nanosleep", "syscalls:sys_enter_clock_nanosleep"),
    "kernel_clone": ("sched:sched_process_fork",),
    "_do_fork": ("sched:sched_process_fork",),
    "do_fork": ("sched:sched_process_fork",),
    "wake_up_new_task": ("sched:sched_wakeup_new",),
    "do_exit": ("sched:sched_process_exit",),
    "do_execve": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "do_execveat_common": ("sched:sched_process_exec", "syscalls:sys_enter_execve", "syscalls:sys_enter_execveat"),
    "bprm_execve": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "schedule": ("sched:sched_switch",),
    "__schedule": ("sched:sched_switch",),
    "finish_task_switch": ("sched:sched_switch",),
    "try_to_wake_up": ("sched:sched_wakeup", "sched:sched_waking"),
    "ttwu_do_wakeup": ("sched:sched_wakeup",),
    "oom_kill_process": ("oom:mark_victim", "oom:oom_score_adj_update"),
    "blk_account_io_start": ("block:block_io_start", "block:block_rq_issue"),
    "__blk_account_io_start": ("block:block_io_start", "block:block_rq_issue"),
    "blk_mq_start_request": ("block:block_rq_issue",),
    "blk_start_request": ("block:block_rq_issue",),
    "blk_account_io_done": ("block:block_io_done", "block:block_rq_complete"),
    "__blk_account_io_done": ("block:block_io_done", "block:block_rq_complete"),
    "blk_mq_end_request": ("block:block_rq_complete",),
    "submit_bio": ("block:block_bio_queue",),
    "kmalloc": ("kmem:kmalloc",),
    "__kmalloc": ("kmem:kmalloc",),
    "kfree": ("kmem:kfree",),
    "kmem_cache_alloc": ("kmem:kmem_cache_alloc",),
    "kmem_cache_free": ("kmem:kmem_cache_free",),
    "handle_mm_fault": ("exceptions:page_fault_user", "exceptions:page_fault_kernel"),
    "exc_page_fault": ("exceptions:page_fault_user", "exceptions:page_fault_kernel"),
    "do_page_fault": ("exceptions:page_fault_user", "exceptions:page_fault_kernel"),
    "send_signal": ("signal:signal_generate",),
    "__send_signal": ("signal:signal_generate",),
    "do_send_sig_info": ("signal:signal_generate",),
    "get_signal": ("signal:signal_deliver",),
    "cap_capable": ("capability:cap_capable",),
    "do_sys_poll": ("syscalls:sys_enter_poll", "syscalls:sys_enter_ppoll"),
    "do_epoll_wait": ("syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait"),
    "mutex_lock": ("lock:contention_begin",),
    "_raw_spin_lock": ("lock:contention_begin",),
    "writeback_single_inode": ("writeback:writeback_single_inode",),
    "ksys_sync": ("syscalls:sys_enter_sync",),
    "md_flush_request": ("block:block_rq_issue",),
}
# System call entry points (__x64_sys_read, __arm64_sys_openat, ksys_write, ...) map to their tracepoints.
_SYSCALL_ENTRY = re.compile(r"^(?:__(?:x64|ia32|arm64|riscv|s390x?|powerpc)_)?(?:sys|ksys|__se_sys|__do_sys)_(\w+)$")


def tracepoint_alternatives(function: str, returns: bool, existing: set[str]) -> list[str]:
    """Tracepoints (full names) covering ``function``, which may be a wildcard, that exist here.

    ``returns`` (a kretprobe) puts exit tracepoints first, since the caller wants return values.
    """
    candidates: list[str] = []
    syscall = _SYSCALL_ENTRY.match(function)
    if syscall:
        candidates += [f"syscalls:sys_enter_{syscall.group(1)}", f"syscalls:sys_exit_{syscall.group(1)}"]
    for name, tracepoints in KPROBE_TO_TRACEPOINTS.items():
        if fnmatchcase(name, function):
            candidates.extend(tracepoints)
    # A tracepoint named like the function (tcp_retransmit_skb, kfree_skb, mm_page_alloc, ...).
    if "*" not in function:
        candidates += [name.removeprefix("tracepoint:") for name in existing if name.endswith(f":{function}")]
    if returns:
        candidates.sort(key=lambda name: ":sys_enter_" in name)
    return [f"tracepoint:{name}" for name in dict.fromkeys(candidates) if f"tracepoint:{name}" in existing]
