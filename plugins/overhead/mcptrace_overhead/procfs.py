"""Read what one tracing process holds and uses from /proc: its BPF programs and maps, its CPU and memory.

A BPF program fd's fdinfo carries ``prog_id``, ``run_cnt`` and ``run_time_ns`` (counted while BPF stats
are on); a map fd's carries ``map_id`` and ``memlock``. Objects are keyed by id, so a program held
through two descriptors counts once. Descriptor kinds are remembered between samples (the tracer keeps
its descriptors for its whole life), so a sample reads the fd list and one small file per BPF object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcessSample:
    """One reading of a process: cumulative counters by program id, map memory by map id, CPU, memory."""

    programs: dict[int, tuple[int, int]] = field(default_factory=dict)
    """prog_id -> (run_cnt, run_time_ns)."""
    maps: dict[int, int] = field(default_factory=dict)
    """map_id -> memlock bytes."""
    cpu_s: float = 0.0
    """User + system CPU seconds of the process so far."""
    rss_bytes: int = 0
    fd_count: int = 0
    """Open descriptors: they stop changing once the tracer has attached everything."""


class ProcessReader:
    """Samples one process; remembers which of its descriptors are BPF programs and maps."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._kinds: dict[str, str | None] = {}
        self._fds: list[str] = []

    def sample(self) -> ProcessSample | None:
        """A reading, or None when the process is gone."""
        base = f"/proc/{self.pid}"
        try:
            fds = os.listdir(f"{base}/fd")
            stat = _read(f"{base}/stat")
        except OSError:
            return None
        if fds != self._fds:  # descriptors came or went: a number seen as a plain file may be BPF now
            self._fds = fds
            self._kinds = {fd: kind for fd, kind in self._kinds.items() if kind is not None}
        sample = ProcessSample(fd_count=len(fds))
        fields = stat.rsplit(")", 1)[1].split()
        sample.cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        sample.rss_bytes = int(fields[21]) * PAGE_SIZE  # rss (field 24), in pages
        for fd in fds:
            kind = self._kinds.get(fd, "?")
            if kind == "?":
                kind = self._kinds[fd] = _kind(f"{base}/fd/{fd}")
            if kind is None:
                continue
            try:
                info = _read(f"{base}/fdinfo/{fd}")
            except OSError:
                self._kinds.pop(fd, None)
                continue
            if not _add(sample, kind, info):
                self._kinds.pop(fd, None)  # the number was reused for something else: look again next time
        return sample


def _kind(path: str) -> str | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if target == "anon_inode:bpf-prog":
        return "prog"
    if target == "anon_inode:bpf-map":
        return "map"
    return None


def _add(sample: ProcessSample, kind: str, info: str) -> bool:
    values: dict[str, str] = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        values[key] = value.strip()
    try:
        if kind == "prog":
            sample.programs[int(values["prog_id"])] = (int(values.get("run_cnt", 0)), int(values.get("run_time_ns", 0)))
        else:
            sample.maps[int(values["map_id"])] = int(values.get("memlock", 0))
    except (KeyError, ValueError):
        return False
    return True


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()
