"""One background thread does every write of a store, so the event loop never waits on the disk or a lock.

Writes are queued as small functions of a connection and applied in order, in batches: runs that end
together are committed together. A write that fails on its own (an execution id already taken) is logged
and skipped; a failure of the database itself (read-only, corrupt, disk full) is handed to ``on_failure``
and the writer stops writing.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable

from mcptrace_core.history.db import is_broken, transaction
from mcptrace_core.logging import get_logger

log = get_logger(__name__)

Write = Callable[[sqlite3.Connection], None]
MAX_BATCH = 256


class _Barrier:
    def __init__(self) -> None:
        self.reached = threading.Event()


class Writer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], on_failure: Callable[[Exception], None]) -> None:
        self._connect = connect
        self._on_failure = on_failure
        self._queue: queue.SimpleQueue[Write | _Barrier | None] = queue.SimpleQueue()
        self._failed = False
        self._thread = threading.Thread(target=self._loop, name="mcptrace-history-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write) -> None:
        if not self._failed:
            self._queue.put(write)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or given up); False on timeout."""
        barrier = _Barrier()
        self._queue.put(barrier)
        return barrier.reached.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            conn = self._connect()
        except (sqlite3.Error, OSError) as error:
            self._fail(error)
            conn = None
        stop = False
        while not stop:
            batch: list[Write] = []
            barriers: list[_Barrier] = []
            item = self._queue.get()
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, _Barrier):
                    barriers.append(item)
                else:
                    batch.append(item)
                if stop or len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch and conn is not None and not self._failed:
                self._apply(conn, batch)
            for barrier in barriers:
                barrier.reached.set()
        if conn is not None:
            conn.close()

    def _apply(self, conn: sqlite3.Connection, batch: list[Write]) -> None:
        try:
            with transaction(conn):
                for write in batch:
                    conn.execute("SAVEPOINT one")
                    try:
                        write(conn)
                    except sqlite3.Error as error:
                        if is_broken(error):
                            raise
                        conn.execute("ROLLBACK TO one")  # this write only (a taken id); the others go on
                        log.error("history write skipped", error=f"{type(error).__name__}: {error}")
                    conn.execute("RELEASE one")
        except sqlite3.Error as error:
            if is_broken(error):
                self._fail(error)
            else:  # e.g. the file stayed locked past the busy timeout: these runs are lost, later ones are not
                log.error("history writes lost", runs=len(batch), error=f"{type(error).__name__}: {error}")

    def _fail(self, error: Exception) -> None:
        self._failed = True
        self._on_failure(error)
