"""What bpftrace can do on THIS host, measured rather than read from ``bpftrace --info``.

``--info`` says "kprobe: yes" on kernels built without kprobes, so every probe type is tried for real
with a tiny program that attaches one probe and exits. The trials take about a second in all (they
run side by side) and their result is cached per boot, bpftrace build and privilege.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mcptrace_core.hostcache import KeyedJsonCache, boot_id

from mcptrace_bpftrace.executable import Bpftrace
from mcptrace_bpftrace.stderr import is_noise

TRACEFS_MOUNTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
BTF_VMLINUX = Path("/sys/kernel/btf/vmlinux")
TRIAL_TIMEOUT_S = 10.0
CACHE_VERSION = 1

# Probe types whose usability follows from another's (same kernel mechanism).
DERIVED = {"kretprobe": "kprobe", "kretfunc": "kfunc", "uretprobe": "uprobe", "usdt": "uprobe", "BEGIN/END": "interval"}


@dataclass(frozen=True)
class ProbeTypeStatus:
    usable: bool
    detail: str


def tracefs_root() -> Path | None:
    """The mounted tracefs (or its debugfs alias), None when neither is mounted."""
    for root in TRACEFS_MOUNTS:
        if (root / "events").is_dir():
            return root
    return None


def mounted_filesystems() -> set[str]:
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return {fields.split()[2] for fields in mounts if len(fields.split()) > 2}
    except OSError:
        return set()


def kprobe_events_present() -> bool:
    """kprobes need the kprobe_events control file; it is missing when CONFIG_KPROBES is off."""
    return any((root / "kprobe_events").exists() for root in TRACEFS_MOUNTS)


def interrupt_lost(pid: int) -> bool:
    """Whether bpftrace sits in its event loop after a SIGINT, i.e. it dropped the signal.

    bpftrace 0.17 prints "Attaching N probes" before it attaches and ignores a SIGINT that arrives
    while it does; it then sleeps in epoll_wait until a probe fires, which for a quiet probe may be
    never. A SIGINT it handled would have woken it, so sleeping there means another one is needed (and
    safe: its handler is still installed; during the exit that follows, a second SIGINT would kill it).
    """
    try:
        return Path(f"/proc/{pid}/wchan").read_text(encoding="ascii").strip() == "do_epoll_wait"
    except OSError:
        return False


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
        process = await asyncio.create_subprocess_exec(
            *command, "-e", program,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        return ProbeTypeStatus(False, f"could not start bpftrace: {error}")
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), TRIAL_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return ProbeTypeStatus(False, f"trial of {probe} did not finish in {TRIAL_TIMEOUT_S:g} s")
    finally:
        if process.returncode is None:  # cancelled (a server shutting down mid-preload): leave nothing behind
            process.kill()
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
