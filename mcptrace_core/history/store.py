"""The history store: a SQLite file (WAL) that every run is written to when it starts and when it ends.

Opening the store brings the schema up to date, marks the runs of dead server processes as
``interrupted`` and applies the retention limits. If the file cannot be used (corrupt, read-only, from a
newer mcptrace) the store says so once in the log and stays ``unavailable`` with the reason: runs go on
unrecorded, and the history tools answer with that reason.

Writes go through one background thread (see writer.py); reads use one connection per thread and are
blocking, so async callers run them in a worker thread.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcptrace_core.config import HistorySettings
from mcptrace_core.history.db import connect, is_broken, transaction
from mcptrace_core.history.filters import RunFilter
from mcptrace_core.history.fixes import link_fixes
from mcptrace_core.history.groups import delete_group, insert_group
from mcptrace_core.history.groups import sweep as sweep_groups
from mcptrace_core.history.identity import ProcessIdentity
from mcptrace_core.history.records import (
    RECORD_COLUMNS,
    EndSnapshot,
    RefusedAttempt,
    RunRecord,
    record_from_row,
    start_row,
    text_hash,
)
from mcptrace_core.history.schema import SchemaTooNewError, migrate
from mcptrace_core.history.search import SearchOutcome, search
from mcptrace_core.history.vectors import VectorIndex
from mcptrace_core.history.writer import Writer
from mcptrace_core.logging import get_logger
from mcptrace_core.private import FILE_MODE, private_file
from mcptrace_core.runs.run import Run

if TYPE_CHECKING:
    from mcptrace_core.interfaces import Embedder

log = get_logger(__name__)

PRUNE_EVERY_RUNS = 500
MAX_SUMMARY_CHARS = 1000
"""The analysis summary kept per run: analyze_output's first lines (numbers first, then anomalies)."""
SHUTDOWN_FLUSH_S = 10.0


class HistoryUnavailable(Exception):
    """The history cannot be used; the message says why and what to do."""


def make_private(path: Path) -> None:
    """The database holds captured output: 0600 (its -wal and -shm too; SQLite gives them the database's
    mode), in a 0700 folder when the folder is mcptrace's; existing ones are tightened."""
    private_file(path, "-wal", "-shm")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def default_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("mcptrace") / "history.sqlite3"


class HistoryStore:
    """Every run of every mcptrace process that shares the file. Also the run manager's listener."""

    def __init__(self, settings: HistorySettings, path: Path, owner: ProcessIdentity) -> None:
        self.settings = settings
        self.path = path
        self.owner = owner
        self.problem: str | None = None
        self.vectors = VectorIndex()
        self._writer: Writer | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ended = 0

    @classmethod
    def open(cls, settings: HistorySettings) -> HistoryStore:
        """Open (or create) the store; never raises: a store that cannot be used is ``unavailable``."""
        store = cls(settings, settings.path or default_path(), ProcessIdentity.current())
        if not settings.enabled:
            store.problem = "history is disabled (history.enabled = false in the config)"
            return store
        try:
            make_private(store.path)
            conn = store._reader()
            if _switch_to_wal(conn) != "wal":
                raise sqlite3.OperationalError("cannot switch the database to WAL mode")
            migrate(conn)
            recovered = _in_transaction(conn, recover, store.owner)
            swept = _in_transaction(conn, sweep_groups, store.owner)
            pruned = _in_transaction(conn, prune, settings.max_runs, settings.max_age_days)
        except (sqlite3.Error, OSError, SchemaTooNewError) as error:
            store._fail(error)
            return store
        if recovered or pruned or swept:
            log.info("history opened", path=str(store.path), interrupted=recovered, pruned=pruned,
                     killed_leftover_groups=swept)
        store._writer = Writer(partial(connect, store.path), store._fail)
        return store

    @property
    def available(self) -> bool:
        return self.problem is None

    def require(self) -> None:
        """Raise HistoryUnavailable with the reason when the store cannot be used."""
        if self.problem is not None:
            raise HistoryUnavailable(self.problem)

    # -- recording (run manager listener; called on the event loop, returns at once) -------------

    def run_started(self, run: Run) -> None:
        if self._writer is not None:
            self._writer.submit(partial(_insert, start_row(run, self.owner)))

    def run_ended(self, run: Run) -> None:
        if self._writer is None:
            return
        self._writer.submit(partial(_finish, EndSnapshot.of(run, self.settings.max_output_lines)))
        self._ended += 1
        if self._ended % PRUNE_EVERY_RUNS == 0:
            self._writer.submit(partial(_prune_write, self.settings.max_runs, self.settings.max_age_days))

    def group_started(self, pgid: int, leader_start: int) -> None:
        """A child process group started (ChildGuard listener): kept until it is killed."""
        if self._writer is not None:
            self._writer.submit(partial(insert_group, self.owner, pgid, leader_start))

    def group_ended(self, pgid: int) -> None:
        if self._writer is not None:
            self._writer.submit(partial(delete_group, self.owner, pgid))

    def attempt_refused(self, refused: RefusedAttempt) -> str | None:
        """Record an attempt the safety gate refused (nothing ran); return its id in the history."""
        if self._writer is None:
            return None
        run_id = secrets.token_hex(6)  # the form of an execution_id; get_result explains it never ran
        self._writer.submit(partial(_insert_refused, refused.row(run_id, self.owner)))
        return run_id

    def annotate(self, run_id: str, *, summary: str) -> None:
        """Keep what analyze_output found in a run's output (the latest analysis wins), cut at
        MAX_SUMMARY_CHARS. What the run started with (validation, source) came on its RunSpec."""
        if self._writer is not None:
            self._writer.submit(partial(_summarise, run_id, _shortened(summary, MAX_SUMMARY_CHARS)))

    def flush(self, timeout: float | None = SHUTDOWN_FLUSH_S) -> bool:
        """Wait until every run recorded so far is in the file."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close(SHUTDOWN_FLUSH_S)
            self._writer = None
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    # -- reading (blocking) ----------------------------------------------------------------------

    def load(self, run_id: str) -> RunRecord | None:
        row = self.read(f"SELECT {RECORD_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return record_from_row(row[0]) if row else None

    def recent(self, run_filter: RunFilter, limit: int, offset: int = 0) -> list[RunRecord]:
        """Runs matching the filter, newest first."""
        where, params = run_filter.where()
        rows = self.read(
            f"SELECT {RECORD_COLUMNS} FROM runs WHERE {where} ORDER BY started_at DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [record_from_row(row) for row in rows]

    def iter_records(self, run_filter: RunFilter, batch: int = 500) -> Iterator[RunRecord]:
        """Every run matching the filter, oldest first, read in batches (for export)."""
        where, params = run_filter.where()
        last = 0
        while True:
            rows = self.read(
                f"SELECT seq, {RECORD_COLUMNS} FROM runs WHERE {where} AND seq > ? ORDER BY seq LIMIT ?",
                (*params, last, batch),
            )
            for row in rows:
                data = dict(row)
                del data["seq"]
                yield record_from_row(data)
            if len(rows) < batch:
                return
            last = rows[-1]["seq"]

    def search(self, query: str, run_filter: RunFilter, limit: int, embedder: Embedder | None = None) -> SearchOutcome:
        """Runs matching ``query`` by words (and meaning, with an embedder) and the filter; see search.py."""
        return self.using_connection(lambda conn: search(conn, query, run_filter, limit, embedder, self.vectors))

    def count(self) -> int:
        return int(self.read("SELECT count(*) FROM runs")[0][0])

    def prune_now(self, max_runs: int, max_age_days: float) -> int:
        """Apply retention limits now (the CLI's prune); return how many runs were removed."""
        self.require()
        return self.using_connection(lambda conn: _in_transaction(conn, prune, max_runs, max_age_days))

    def read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        return self.using_connection(lambda conn: conn.execute(sql, params).fetchall())

    def using_connection(self, work: Any) -> Any:
        """Run ``work(connection)`` on this thread's connection; a broken database makes the store unavailable."""
        self.require()
        try:
            return work(self._reader())
        except sqlite3.Error as error:
            if not is_broken(error):
                raise
            self._fail(error)
            raise HistoryUnavailable(self.problem) from None

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def _fail(self, error: Exception) -> None:
        """Mark the store unavailable and log why, once."""
        if self.problem is not None:
            return
        self.problem = (
            f"history unavailable: {self.path}: {type(error).__name__}: {error}. Runs still work but are not "
            "recorded; fix or remove the file (or set history.path) and restart mcptrace"
        )
        log.error("history unavailable", path=str(self.path), error=f"{type(error).__name__}: {error}")


# -- writes (run on the writer thread, or in a transaction of their own) --------------------------


def _insert(row: dict[str, Any], conn: sqlite3.Connection) -> None:
    columns = ", ".join(row)
    conn.execute(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def _insert_refused(row: dict[str, Any], conn: sqlite3.Connection) -> None:
    _insert(row, conn)
    link_fixes(conn, row["id"])


def _finish(snapshot: EndSnapshot, conn: sqlite3.Connection) -> None:
    # Columns still NULL since the start are left out: setting error_message to NULL again would
    # re-index the row's program in the full-text index for nothing.
    columns = {column: value for column, value in snapshot.columns().items() if value is not None}
    assignments = ", ".join(f"{column} = ?" for column in columns)
    conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*columns.values(), snapshot.id))
    _refresh_text_hash(conn, snapshot.id)
    link_fixes(conn, snapshot.id)


def _shortened(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut after its last whole line that fits."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > 0 else limit - 1] + "…"


def _summarise(run_id: str, summary: str, conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (summary, run_id))
    _refresh_text_hash(conn, run_id)


def _refresh_text_hash(conn: sqlite3.Connection, run_id: str) -> None:
    row = conn.execute("SELECT program, label, error_message, summary FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        new_hash = text_hash(*row)
        conn.execute("UPDATE runs SET text_hash = ? WHERE id = ? AND text_hash != ?", (new_hash, run_id, new_hash))


def _prune_write(max_runs: int, max_age_days: float, conn: sqlite3.Connection) -> None:
    prune(conn, max_runs, max_age_days)


def _in_transaction(conn: sqlite3.Connection, work: Any, *args: Any) -> Any:
    with transaction(conn):
        return work(conn, *args)


def recover(conn: sqlite3.Connection, me: ProcessIdentity) -> int:
    """Mark as interrupted the runs left ``running`` by server processes that no longer exist."""
    owners = conn.execute(
        "SELECT DISTINCT owner_pid, owner_boot, owner_start FROM runs WHERE status = 'running'"
    ).fetchall()
    recovered = 0
    for pid, boot, start in owners:
        owner = ProcessIdentity(pid, boot, start)
        if owner == me or owner.is_alive():
            continue
        cursor = conn.execute(
            "UPDATE runs SET status = 'interrupted', stop_note = ? WHERE status = 'running' "
            "AND owner_pid = ? AND owner_boot = ? AND owner_start = ?",
            (
                (
                    f"the mcptrace process that ran it (pid {pid}) ended without finishing it (crash or kill); "
                    "its output was not recorded"
                ),
                pid, boot, start,
            ),
        )
        recovered += cursor.rowcount
    return recovered


def prune(conn: sqlite3.Connection, max_runs: int, max_age_days: float) -> int:
    """Remove finished runs beyond ``max_runs`` (oldest first) or older than ``max_age_days``."""
    removed = 0
    if max_age_days > 0:
        cutoff = time.time() - max_age_days * 86400
        removed += conn.execute("DELETE FROM runs WHERE started_at < ? AND status != 'running'", (cutoff,)).rowcount
    if max_runs > 0:  # rowids are dense (only the oldest are ever removed): no count, no scan
        removed += conn.execute(
            "DELETE FROM runs WHERE seq <= (SELECT max(seq) FROM runs) - ? AND status != 'running'", (max_runs,)
        ).rowcount
    if removed:
        conn.execute("DELETE FROM vectors WHERE text_hash NOT IN (SELECT text_hash FROM runs)")
        conn.execute("DELETE FROM embed_queue WHERE text_hash NOT IN (SELECT text_hash FROM runs)")
    return removed


def _switch_to_wal(conn: sqlite3.Connection, attempts: int = 100) -> str:
    """The journal mode after asking for WAL. Switching needs the file to itself, and SQLite answers "database
    is locked" at once, without its busy timeout, while another process opens the same new file: retry."""
    for _ in range(attempts - 1):
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            time.sleep(0.05)
    return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
