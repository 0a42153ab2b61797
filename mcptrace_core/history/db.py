"""Connections and transactions, the same way everywhere in the history package."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 10.0
# Primary result codes that mean the file itself cannot be used, as opposed to one bad statement.
_BROKEN = {
    3: "SQLITE_PERM",
    8: "SQLITE_READONLY",
    10: "SQLITE_IOERR",
    11: "SQLITE_CORRUPT",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    26: "SQLITE_NOTADB",
}


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows by column name."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across a crash of the process
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the lock at once (no upgrade deadlock between processes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the original error is the one worth raising
        raise
    conn.execute("COMMIT")


def is_broken(error: sqlite3.Error) -> bool:
    """Whether ``error`` says the database file is unusable (corrupt, read-only, full, unreadable)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BROKEN
