"""The history database's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a database has had; opening applies the missing ones
in one transaction each. A database from a newer mcptrace (more migrations than this one knows) is not
touched: the store reports it unavailable rather than guess at a schema it has never seen.
"""

from __future__ import annotations

import sqlite3

from mcptrace_core.history.db import transaction

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, their full-text index, the embedding queue and the vectors cache.
    """
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,            -- stable rowid for the full-text index
        id TEXT NOT NULL UNIQUE,            -- the execution_id
        backend TEXT NOT NULL,
        label TEXT NOT NULL,
        program TEXT,
        parameters TEXT NOT NULL,           -- JSON: argv, timeout_s, env
        status TEXT NOT NULL,
        exit_code INTEGER,
        error_category TEXT,
        error_message TEXT,
        errors TEXT,                        -- JSON list of TraceError
        verdict TEXT,
        findings TEXT,                      -- JSON list
        chain_id TEXT,
        attempt INTEGER,
        source TEXT,                        -- the example or template the program came from
        summary TEXT,                       -- the analysis summary
        output TEXT,                        -- JSON {"head": [...], "tail": [...]}
        total_lines INTEGER NOT NULL DEFAULT 0,
        stderr TEXT,                        -- JSON list
        maps TEXT,                          -- JSON list of TraceMap
        attached_probes INTEGER,
        lost_events INTEGER NOT NULL DEFAULT 0,
        stop_note TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        duration_s REAL,
        host TEXT NOT NULL,                 -- JSON facts about the machine
        owner_pid INTEGER NOT NULL,         -- the server process that ran it ...
        owner_boot TEXT NOT NULL,           -- ... in which boot ...
        owner_start INTEGER NOT NULL,       -- ... started when (clock ticks since boot)
        text_hash TEXT NOT NULL,            -- of the text searched by meaning
        fixed_by TEXT,
        likely_fixed_by TEXT
    );
    CREATE INDEX runs_started ON runs(started_at);
    CREATE INDEX runs_status ON runs(status, started_at);
    CREATE INDEX runs_chain ON runs(chain_id, attempt) WHERE chain_id IS NOT NULL;
    CREATE INDEX runs_text ON runs(text_hash, status, started_at);  -- covers grouping and filters in search
    CREATE INDEX runs_unfixed ON runs(owner_pid, ended_at) WHERE status = 'failed' AND likely_fixed_by IS NULL;

    CREATE VIRTUAL TABLE runs_fts USING fts5(
        program, label, error_message, summary,
        content='runs', content_rowid='seq', tokenize='porter unicode61'
    );
    CREATE TRIGGER runs_fts_insert AFTER INSERT ON runs BEGIN
        INSERT INTO runs_fts(rowid, program, label, error_message, summary)
        VALUES (new.seq, new.program, new.label, new.error_message, new.summary);
    END;
    CREATE TRIGGER runs_fts_delete AFTER DELETE ON runs BEGIN
        INSERT INTO runs_fts(runs_fts, rowid, program, label, error_message, summary)
        VALUES ('delete', old.seq, old.program, old.label, old.error_message, old.summary);
    END;
    CREATE TRIGGER runs_fts_update AFTER UPDATE OF program, label, error_message, summary ON runs BEGIN
        INSERT INTO runs_fts(runs_fts, rowid, program, label, error_message, summary)
        VALUES ('delete', old.seq, old.program, old.label, old.error_message, old.summary);
        INSERT INTO runs_fts(rowid, program, label, error_message, summary)
        VALUES (new.seq, new.program, new.label, new.error_message, new.summary);
    END;

    -- Texts still to embed: filled by triggers, emptied by the search that embeds them.
    CREATE TABLE embed_queue (text_hash TEXT PRIMARY KEY);
    CREATE TRIGGER runs_embed_insert AFTER INSERT ON runs BEGIN
        INSERT OR IGNORE INTO embed_queue(text_hash) VALUES (new.text_hash);
    END;
    CREATE TRIGGER runs_embed_update AFTER UPDATE OF text_hash ON runs BEGIN
        INSERT OR IGNORE INTO embed_queue(text_hash) VALUES (new.text_hash);
    END;
    CREATE TABLE vectors (
        seq INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        vector BLOB NOT NULL,               -- float32, L2-normalised
        UNIQUE (model_id, text_hash)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: attempts refused by the safety gate are recorded too (status 'refused'); they may be fixed later.
    """
    DROP INDEX runs_unfixed;
    CREATE INDEX runs_unfixed ON runs(owner_pid, ended_at)
        WHERE status IN ('failed', 'refused') AND likely_fixed_by IS NULL;
    """,
    # 3: the child process groups each server has running (a later server sweeps what a crash left).
    """
    CREATE TABLE child_groups (
        pgid INTEGER NOT NULL,
        leader_start INTEGER NOT NULL,      -- the group leader's start time, clock ticks since boot
        owner_pid INTEGER NOT NULL,
        owner_boot TEXT NOT NULL,
        owner_start INTEGER NOT NULL,
        started_at REAL NOT NULL,
        PRIMARY KEY (pgid, leader_start)
    );
    ALTER TABLE runs ADD COLUMN confirmed_by TEXT;  -- who confirmed the run, through which client and transport
    """,
    # 4: what a run cost (measured overhead, JSON) and the runtime limit it was stopped for (JSON).
    """
    ALTER TABLE runs ADD COLUMN overhead TEXT;
    ALTER TABLE runs ADD COLUMN limit_crossed TEXT;
    """,
)


class SchemaTooNewError(Exception):
    """The database was written by a newer mcptrace."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the version it is at.

    The version is read again under the write lock, so two servers starting together on a new file
    migrate it once: the second waits for the first and then finds nothing to do.
    """
    if _version(conn) == len(MIGRATIONS):
        return len(MIGRATIONS)
    with transaction(conn):
        version = _version(conn)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


def _version(conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise SchemaTooNewError(
            f"schema version {version} was written by a newer mcptrace (this one knows up to {len(MIGRATIONS)}); "
            "upgrade mcptrace or point history.path at another file"
        )
    return version


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit on its own, outside our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [statement for statement in statements if statement.strip(" ;\n")]
