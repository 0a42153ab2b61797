"""The watchdog: a tiny process that kills the server's child process groups when the server dies.

A parent-death signal reaches only the server's direct child, and a bpftrace blocked in ``system()``
ignores SIGTERM while the shell and the command it started have no parent-death signal at all. So
the server starts this script once (``python -I -S watchdog.py``, in its own session, stdlib only) and
tells it on a pipe which process groups it owns: ``+PGID START_TICKS`` when one starts, ``-PGID``
when it is gone. When the pipe closes, the server has ended (however it ended, SIGKILL included):
every group still listed gets SIGTERM, and SIGKILL after ``GRACE_S``.

A group is touched only while it is provably the one that was listed: its leader still has the
recorded start time, or the leader is gone but members remain (Linux never gives a pid that is still
some group's id to a new process, so those members are the original group's).
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_S = 3.0
POLL_S = 0.05


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # members run as another user (a privilege prefix): still there
        return True
    return True


def is_same_group(pgid: int, ticks: int) -> bool:
    """Whether group ``pgid`` is still the one whose leader started at ``ticks``."""
    leader = start_ticks(pgid)
    if leader is not None:
        return leader == ticks
    return group_alive(pgid)


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def end_groups(groups: dict[int, int], grace_s: float = GRACE_S) -> None:
    """SIGTERM every listed group that is still ours, then SIGKILL what is left after ``grace_s``."""
    ours = [pgid for pgid, ticks in groups.items() if is_same_group(pgid, ticks)]
    for pgid in ours:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while ours and time.monotonic() < deadline:
        time.sleep(POLL_S)
        ours = [pgid for pgid in ours if group_alive(pgid)]
    for pgid in ours:
        if is_same_group(pgid, groups[pgid]):
            signal_group(pgid, signal.SIGKILL)


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)  # only the closed pipe ends the watch
    groups: dict[int, int] = {}
    for raw in sys.stdin.buffer:
        line = raw.decode("ascii", "replace").split()
        try:
            if len(line) == 2 and line[0].startswith("+"):
                groups[int(line[0][1:])] = int(line[1])
            elif len(line) == 1 and line[0].startswith("-"):
                groups.pop(int(line[0][1:]), None)
        except ValueError:
            continue
    end_groups(groups)


if __name__ == "__main__":
    main()
