"""Turn the kernel's BPF run-time accounting on while runs need it, and make sure it goes off again.

The kernel counts ``run_cnt``/``run_time_ns`` per BPF program only while stats are enabled (a static
key; each program run then pays two clock reads). Two ways to enable them:

- ``bpf_enable_stats``: the BPF_ENABLE_STATS command of bpf(2) (Linux 5.8+) returns a file descriptor;
  stats stay on while any such descriptor is open. The kernel counts the holders and closes ours when
  this process dies, even by SIGKILL, so nothing is left on. ``kernel.bpf_stats_enabled`` is untouched.
- ``sysctl``: writing 1 to /proc/sys/kernel/bpf_stats_enabled. That survives the process, so the value
  found is written to a state file (holders listed by pid and start time) before it is changed, and a
  small guardian process (guardian.py) restores it when this server ends for any reason; a server that
  starts later restores what dead holders left behind.

Runs share one lease per server: stats go on with the first measured run and off after the last.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import platform
import subprocess
import sys
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

from mcptrace_core.history.identity import start_ticks
from mcptrace_core.logging import get_logger

log = get_logger(__name__)

SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
_BPF_ENABLE_STATS = 32
_BPF_STATS_RUN_TIME = 0
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}


class _EnableStatsAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("_pad", ctypes.c_uint8 * 124)]


def enable_stats_fd() -> int:
    """A BPF_ENABLE_STATS descriptor (stats on while it is open); OSError when the kernel refuses."""
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"bpf(2) number unknown for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _EnableStatsAttr(type=_BPF_STATS_RUN_TIME)
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_int(_BPF_ENABLE_STATS), ctypes.byref(attr),
                      ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    os.set_inheritable(fd, False)
    return fd


def read_sysctl() -> str | None:
    try:
        return SYSCTL.read_text().strip()
    except OSError:
        return None


class SysctlState:
    """The state file of the sysctl method: the value found before any holder, and the holders."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "bpf-stats.json"
        self.lock_path = directory / "bpf-stats.lock"

    @contextmanager
    def locked(self) -> Iterator[dict]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_text()) if self.path.exists() else {}
            except (OSError, ValueError):
                state = {}
            yield state
            if state.get("holders"):
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)
            else:
                self.path.unlink(missing_ok=True)

    def hold(self, pid: int) -> None:
        """Add ``pid`` as a holder and switch stats on, recording the value found first."""
        with self.locked() as state:
            self._settle(state)
            holders = state.setdefault("holders", [])
            if not holders:
                state["original"] = read_sysctl() or "0"
            holders.append({"pid": pid, "start": start_ticks(pid)})
            if read_sysctl() != "1":
                SYSCTL.write_text("1")

    def release(self, pid: int) -> None:
        """Drop ``pid`` (and holders that died); restore the recorded value when none is left."""
        with self.locked() as state:
            state["holders"] = [h for h in state.get("holders", []) if h.get("pid") != pid]
            self._settle(state)

    def recover(self) -> None:
        """Restore what dead holders left on (a server and its guardian both killed)."""
        if self.path.exists():
            with self.locked() as state:
                self._settle(state)

    @staticmethod
    def _settle(state: dict) -> None:
        """Forget holders that died; with none left, write back the value found before the first."""
        alive = [h for h in state.get("holders", []) if start_ticks(int(h.get("pid", 0))) == h.get("start")]
        state["holders"] = alive
        if not alive and "original" in state:
            try:
                SYSCTL.write_text(str(state["original"]))
            except OSError as error:
                log.error("cannot restore kernel.bpf_stats_enabled", error=str(error))
            del state["original"]


class StatsLease:
    """BPF stats for the runs of this server: ``acquire`` per measured run, ``release`` when it ends."""

    def __init__(self, method: str, state_dir: Path) -> None:
        self.wanted = method
        self.state = SysctlState(state_dir)
        self.method: str | None = None
        self.problem: str | None = None
        self._holders = 0
        self._fd: int | None = None
        self._guardian: subprocess.Popen[bytes] | None = None

    @property
    def active(self) -> bool:
        return self._holders > 0 and self.method is not None

    def acquire(self) -> str:
        """Count one more run; enable stats if it is the first. Returns the method, or why stats are off."""
        self._holders += 1
        if self._holders == 1:
            self._enable()
        return self.method or f"unavailable: {self.problem}"

    def release(self) -> None:
        if self._holders == 0:
            return
        self._holders -= 1
        if self._holders == 0:
            self._disable()

    def close(self) -> None:
        self._holders = 0
        self._disable()

    def _enable(self) -> None:
        self.method, self.problem = None, None
        if self.wanted == "off":
            self.problem = "BPF stats are off in the config (overhead.bpf_stats = 'off')"
            return
        if self.wanted in ("auto", "bpf_enable_stats"):
            try:
                self._fd = enable_stats_fd()
                self.method = "bpf_enable_stats"
                return
            except OSError as error:
                self.problem = f"BPF_ENABLE_STATS refused: {error.strerror or error}"
                if self.wanted == "bpf_enable_stats":
                    return
        try:
            self.state.hold(os.getpid())
        except OSError as error:
            self.problem = f"{self.problem + '; ' if self.problem else ''}kernel.bpf_stats_enabled: {error.strerror}"
            return
        self.method = "sysctl"
        self._start_guardian()

    def _disable(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.method == "sysctl":
            try:
                self.state.release(os.getpid())
            except OSError as error:
                log.error("cannot restore kernel.bpf_stats_enabled", error=str(error))
            if self._guardian is not None:
                self._guardian.stdin.close()  # type: ignore[union-attr]  # it finds nothing to do and exits
                self._guardian.wait(timeout=5)
                self._guardian = None
        self.method = None

    def _start_guardian(self) -> None:
        """A process that restores the sysctl when this one dies (its pipe from us reaches end of file)."""
        self._guardian = subprocess.Popen(
            [sys.executable, "-m", "mcptrace_overhead.guardian", str(self.state.path.parent), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a kill of the server's process group leaves it alive to clean up
        )
