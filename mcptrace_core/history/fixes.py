"""Link a failed run to the run that fixed it, so an assistant can reuse the fix.

``fixed_by`` is exact: within one retry chain (same chain_id), every unsuccessful attempt points to the
first later attempt that succeeded, whichever of the two is recorded last.

``likely_fixed_by`` is a heuristic for runs outside a chain, deliberately narrow so that it is rarely
wrong: the failure must be the program's fault (a syntax, semantic, probe or feature error, or a refusal
by the safety policy or the user), and the candidate fix must come from the same server process, start
within ten minutes after the failure ended, succeed, and be a similar but different program (difflib
ratio >= 0.6). An identical program that later succeeds is not a fix of the program, so it is not linked.

Refused attempts (validation errors, blocked, not confirmed: nothing ran) take part in both links like
failed runs: they are recorded the moment they are refused, so the later run that fixes them finds them.
"""

from __future__ import annotations

import difflib
import sqlite3

from mcptrace_core.history.records import SUCCESSFUL, UNSUCCESSFUL

PROGRAM_ERRORS = (
    "syntax", "semantic", "probe_not_found", "unsafe_builtin", "unsupported_feature", "attach",
    "blocked", "not_confirmed",  # the error_category of a refusal that is not a validation error
)
WINDOW_S = 600.0
MIN_SIMILARITY = 0.6
MAX_CANDIDATES = 5
MAX_COMPARED_CHARS = 16_384
"""Longer programs are not compared (difflib is quadratic in the worst case)."""

_SUCCESS = ", ".join(f"'{status}'" for status in SUCCESSFUL)
_FAILURE = ", ".join(f"'{status}'" for status in UNSUCCESSFUL)
_PROGRAM_ERRORS = ", ".join(f"'{category}'" for category in PROGRAM_ERRORS)


def link_fixes(conn: sqlite3.Connection, run_id: str) -> None:
    """Update the fix links that the end of ``run_id`` makes known."""
    run = conn.execute(
        "SELECT seq, status, chain_id, attempt, program, backend, owner_pid, owner_boot, owner_start, started_at "
        "FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if run is None:
        return
    if run["chain_id"] is not None and run["attempt"] is not None:
        _link_chain(conn, run_id, run)
    elif run["status"] in SUCCESSFUL and run["program"]:
        _link_likely(conn, run_id, run)


def _link_chain(conn: sqlite3.Connection, run_id: str, run: sqlite3.Row) -> None:
    if run["status"] in SUCCESSFUL:
        conn.execute(
            f"UPDATE runs SET fixed_by = ? WHERE chain_id = ? AND attempt < ? AND status IN ({_FAILURE}) "
            "AND fixed_by IS NULL",
            (run_id, run["chain_id"], run["attempt"]),
        )
    elif run["status"] in UNSUCCESSFUL:
        conn.execute(
            "UPDATE runs SET fixed_by = (SELECT id FROM runs WHERE chain_id = ? AND attempt > ? "
            f"AND status IN ({_SUCCESS}) ORDER BY attempt LIMIT 1) WHERE id = ?",
            (run["chain_id"], run["attempt"], run_id),
        )


def _link_likely(conn: sqlite3.Connection, run_id: str, run: sqlite3.Row) -> None:
    candidates = conn.execute(
        "SELECT id, program FROM runs WHERE chain_id IS NULL AND status IN ('failed', 'refused') "
        "AND likely_fixed_by IS NULL "  # the conditions of the partial index runs_unfixed, as it states them
        f"AND error_category IN ({_PROGRAM_ERRORS}) AND backend = ? AND owner_pid = ? AND owner_boot = ? "
        "AND owner_start = ? AND ended_at BETWEEN ? AND ? AND seq < ? ORDER BY ended_at DESC LIMIT ?",
        (
            run["backend"], run["owner_pid"], run["owner_boot"], run["owner_start"],
            run["started_at"] - WINDOW_S, run["started_at"], run["seq"], MAX_CANDIDATES,
        ),
    ).fetchall()
    for candidate in candidates:
        if candidate["program"] and candidate["program"] != run["program"] and similar(candidate["program"], run["program"]):
            conn.execute("UPDATE runs SET likely_fixed_by = ? WHERE id = ?", (run_id, candidate["id"]))


def similar(first: str, second: str) -> bool:
    if max(len(first), len(second)) > MAX_COMPARED_CHARS:
        return False
    matcher = difflib.SequenceMatcher(None, first, second, autojunk=False)
    return matcher.real_quick_ratio() >= MIN_SIMILARITY and matcher.quick_ratio() >= MIN_SIMILARITY and (
        matcher.ratio() >= MIN_SIMILARITY
    )
