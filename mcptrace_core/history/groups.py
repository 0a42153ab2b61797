"""Child process groups in the history: what a server had running, so a later one can clean up a crash.

The watchdog (runs/watchdog.py) ends a dead server's groups. If it died too (the machine's OOM killer,
a ``kill -9`` of everything), the groups are still listed here with their owner; the next server that
opens the history kills those whose owner is dead and which are provably the same groups (same boot,
and the leader's start time still matches or the group outlived its leader, see ``is_same_group``).
Groups of live servers, and anything not provably the recorded group, are never touched.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from mcptrace_core.history.identity import ProcessIdentity, boot_id
from mcptrace_core.runs.watchdog import is_same_group


def insert_group(owner: ProcessIdentity, pgid: int, leader_start: int, conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO child_groups (pgid, leader_start, owner_pid, owner_boot, owner_start, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (pgid, leader_start, owner.pid, owner.boot_id, owner.start_ticks, time.time()),
    )


def delete_group(owner: ProcessIdentity, pgid: int, conn: sqlite3.Connection) -> None:
    conn.execute(
        "DELETE FROM child_groups WHERE pgid = ? AND owner_pid = ? AND owner_boot = ? AND owner_start = ?",
        (pgid, owner.pid, owner.boot_id, owner.start_ticks),
    )


def sweep(conn: sqlite3.Connection, me: ProcessIdentity) -> int:
    """SIGKILL the recorded groups of dead servers that are still there; forget every dead server's
    groups. Returns how many groups were killed."""
    rows = conn.execute(
        "SELECT pgid, leader_start, owner_pid, owner_boot, owner_start FROM child_groups"
    ).fetchall()
    killed = 0
    this_boot = boot_id()
    for pgid, leader_start, pid, boot, start in rows:
        owner = ProcessIdentity(pid, boot, start)
        if owner == me or owner.is_alive():
            continue
        if boot == this_boot and is_same_group(pgid, leader_start):
            try:
                os.killpg(pgid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        conn.execute("DELETE FROM child_groups WHERE pgid = ? AND leader_start = ?", (pgid, leader_start))
    return killed
