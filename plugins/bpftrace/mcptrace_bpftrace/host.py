"""What bpftrace can do on THIS host, measured rather than read from ``bpftrace --info``.

``--info`` says "kprobe: yes" on kernels built without kprobes, so every probe type is tried for real
with a tiny program that attaches one probe and exits. The trials take about a second in all (they
run side by side) and their result is cached per boot, bpftrace build and privilege.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from mcptrace_core.hostcache import KeyedJsonCache, boot_id
from mcptrace_core.runs.process import Bounds, kill_group, spawn, wait_channel

from mcptrace_bpftrace.executable import Bpftrace
from mcptrace_bpftrace.stderr import is_noise

TRACEFS_MOUNTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
BTF_VMLINUX = Path("/sys/kernel/btf/vmlinux")
KPROBE_EVENT_SOURCE = Path("/sys/bus/event_source/devices/kprobe")
TRIAL_TIMEOUT_S = 10.0
TRIAL_BOUNDS = Bounds(death_signal=signal.SIGKILL, core_bytes=0)
"""A trial attaches for a moment: killed outright, with its group, if the server dies meanwhile. A build that
lacks a probe type may abort on it (0.17: "FATAL: Invalid probe type" for rawtracepoint): no core file."""
CACHE_VERSION = 2

# Probe types whose usability follows from another's (same kernel mechanism).
DERIVED = {"kretprobe": "kprobe", "kretfunc": "kfunc", "uretprobe": "uprobe", "usdt": "uprobe", "BEGIN/END": "interval"}


@dataclass(frozen=True)
class ProbeTypeStatus:
    usable: bool
    detail: str


def tracefs_root() -> Path | None:
    """The mounted tracefs (or its debugfs alias) when this process can read it, else None.

    tracefs is readable by root only (mode 0700), so a user reads probes through bpftrace instead;
    ``tracefs_mounted`` says whether it is there at all.
    """
    for root in TRACEFS_MOUNTS:
        if _is_dir(root / "events"):
            return root
    return None


def tracefs_mounted() -> Path | None:
    """Where tracefs is mounted, read from /proc/mounts (needs no privilege); None when it is not."""
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            points = {fields[1] for fields in map(str.split, mounts) if len(fields) > 2 and fields[2] == "tracefs"}
    except OSError:
        return None
    return next((root for root in TRACEFS_MOUNTS if str(root) in points), None)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # PermissionError: not ours to read
        return False


def mounted_filesystems() -> set[str]:
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return {fields.split()[2] for fields in mounts if len(fields.split()) > 2}
    except OSError:
        return set()


def kprobe_events_present() -> bool:
    """kprobes need the kprobe_events control file; it is missing when CONFIG_KPROBES is off.

    Only root may look into tracefs; a user asks the kprobe event source in sysfs (present with
    CONFIG_KPROBE_EVENTS), which anyone may read.
    """
    for root in TRACEFS_MOUNTS:
        try:
            if (root / "kprobe_events").exists():
                return True
        except PermissionError:
            return KPROBE_EVENT_SOURCE.exists()
    return False


def in_event_loop(pid: int) -> bool:
    """Whether bpftrace has attached and waits for events, so a SIGINT makes it print its maps and exit.

    bpftrace 0.23 exits 255 with no maps on a SIGINT that arrives while it attaches (which takes
    seconds for hundreds of probes, after its "attached_probes" line); once it sleeps in epoll_wait it
    is past attaching. A process that is gone is ready too (nothing to wait for), and so is one whose
    wait channel this user cannot see (the kernel shows "0" then): waiting would only delay the stop.
    """
    try:
        if os.geteuid() != 0 and os.stat(f"/proc/{pid}").st_uid != os.geteuid():
            return True
    except OSError:
        return True
    return wait_channel(pid) in (None, "do_epoll_wait")


def interrupt_lost(pid: int) -> bool:
    """Whether bpftrace sits in its event loop after a SIGINT, i.e. it dropped the signal.

    bpftrace 0.17 prints "Attaching N probes" before it attaches and ignores a SIGINT that arrives
    while it does; it then sleeps in epoll_wait until a probe fires, which for a quiet probe may be
    never. A SIGINT it handled would have woken it, so sleeping there means another one is needed (and
    safe: its handler is still installed; during the exit that follows, a second SIGINT would kill it).
    """
    return wait_channel(pid) == "do_epoll_wait"


def libc_path() -> str | None:
    """The C library this process maps: a uprobe target that exists on every glibc/musl system."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "/libc.so" in path or "/libc-" in path or "ld-musl" in path:
                    return path
    except OSError:
        pass
    return None


def first_tracepoint() -> str:
    root = tracefs_root()
    preferred = ("syscalls", "sys_enter_getpid"), ("sched", "sched_process_exec")
    for category, name in preferred:
        if root is None or (root / "events" / category / name).is_dir():
            return f"tracepoint:{category}:{name}"
    return "tracepoint:sched:sched_switch"


def trial_probes() -> dict[str, str]:
    libc = libc_path()
    trials = {
        "tracepoint": first_tracepoint(),
        "rawtracepoint": "rawtracepoint:sched_switch",
        "kprobe": "kprobe:vfs_read",
        "kfunc": "kfunc:vfs_read",
        "profile": "profile:hz:99",
        "interval": "interval:s:1",
        "software": "software:cpu-clock:1000000",
        "hardware": "hardware:cycles:1000000",
        "iter": "iter:task",
    }
    if libc:
        trials["uprobe"] = f"uprobe:{libc}:getpid"
    return trials


async def _trial(command: list[str], probe: str) -> ProbeTypeStatus:
    program = f"{probe} {{ }} BEGIN {{ exit(); }}"
    try:
        process = await spawn([*command, "-e", program], {}, TRIAL_BOUNDS, stdout_pipe=False)
    except OSError as error:
        return ProbeTypeStatus(False, f"could not start bpftrace: {error}")
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), TRIAL_TIMEOUT_S)
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        return ProbeTypeStatus(False, f"trial of {probe} did not finish in {TRIAL_TIMEOUT_S:g} s")
    finally:
        kill_group(process.pid)  # also when cancelled: nothing of a trial outlives it
    problems = [
        line.strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if ("ERROR" in line or "FATAL" in line or "failed" in line) and not is_noise(line)
    ]
    if process.returncode == 0 and not problems:
        return ProbeTypeStatus(True, f"attached {probe}")
    reason = "; ".join(problems[:2]) or f"bpftrace exited with status {process.returncode}"
    return ProbeTypeStatus(False, f"{probe}: {reason}")


async def measure_probe_types(command: list[str]) -> dict[str, ProbeTypeStatus]:
    """Try every probe type at once; ``command`` is the privilege prefix plus the bpftrace path."""
    trials = trial_probes()
    results = await asyncio.gather(*(_trial(command, probe) for probe in trials.values()))
    measured = dict(zip(trials, results, strict=True))
    if "uprobe" not in measured:
        measured["uprobe"] = ProbeTypeStatus(False, "no C library found to try a uprobe on")
    if not measured["kprobe"].usable and not kprobe_events_present():
        measured["kprobe"] = ProbeTypeStatus(
            False,
            "no kprobe_events file in tracefs: this kernel is built without kprobes (CONFIG_KPROBES) "
            f"or tracefs is not mounted ({measured['kprobe'].detail})",
        )
    for derived, base in DERIVED.items():
        status = measured[base]
        measured[derived] = ProbeTypeStatus(status.usable, f"same mechanism as {base}: {status.detail}")
    return dict(sorted(measured.items()))


class ProbeTypeCache:
    """The measured probe types, on disk per boot + bpftrace build + uid + tracefs state."""

    def __init__(self, path: Path) -> None:
        self._store = KeyedJsonCache(path)

    @staticmethod
    def key(bpftrace: Bpftrace, command: list[str]) -> list[object]:
        return [CACHE_VERSION, boot_id(), bpftrace.path, bpftrace.version_text, os.geteuid(), command,
                str(tracefs_root()), kprobe_events_present()]

    def load(self, key: list[object]) -> dict[str, ProbeTypeStatus] | None:
        data = self._store.load(key)
        try:
            return {name: ProbeTypeStatus(**status) for name, status in data.items()} if data else None
        except (TypeError, AttributeError):
            return None

    def save(self, key: list[object], probe_types: dict[str, ProbeTypeStatus]) -> None:
        self._store.save(key, {name: asdict(status) for name, status in probe_types.items()})
