"""Search past runs by words (SQLite FTS5, bm25) and, with an embedder, by meaning; fuse the two rankings.

Runs of the same text that ended the same way are one hit (the newest, with ``repeats``): a program run
fifty times is one answer, not fifty. Lexical and semantic rankings are fused by reciprocal rank, so a
run found both ways comes first and neither score scale needs calibrating against the other.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from mcptrace_core.history.filters import RunFilter
from mcptrace_core.history.records import when
from mcptrace_core.models import Model

if TYPE_CHECKING:
    from mcptrace_core.history.vectors import VectorIndex
    from mcptrace_core.interfaces import Embedder

CANDIDATES = 200
"""Distinct texts taken from each ranking before fusing."""
RRF_K = 60
MIN_SIMILARITY = 0.2
MAX_QUERY_TERMS = 32
PROGRAM_PREVIEW_CHARS = 2000

Matched = Literal["words", "meaning", "both", "recent"]


class HistoryHit(Model):
    id: str = Field(description="The execution_id; get_result shows its output and maps.")
    program: str | None = Field(description="The program (cut at 2000 characters); null for a tool run.")
    label: str = Field(description="The program's first line or the tool and its arguments.")
    backend: str
    status: str = Field(description="How the run ended (or running/interrupted).")
    exit_code: int | None
    error: str | None = Field(description="The first error, when it failed.")
    error_category: str | None
    summary: str | None = Field(description="The analysis summary of its output, when it was analysed.")
    when: str = Field(description="When it started (ISO 8601, UTC).")
    duration_s: float | None
    chain_id: str | None
    attempt: int | None
    source: str | None = Field(description="The example or template it came from, when known.")
    verdict: str | None = Field(description="Its validation verdict, when known.")
    fixed_by: str | None = Field(description="The later attempt of its retry chain that succeeded: reuse that fix.")
    likely_fixed_by: str | None = Field(
        description="Heuristic link outside retry chains: a similar program the same server ran successfully next."
    )
    repeats: int = Field(description="Runs of this same text with this same status (this hit is the newest).")
    matched: Matched = Field(description="Found by words, by meaning, both, or (empty query) by recency.")
    score: float = Field(description="Fused rank score; higher is better. Comparable within one search only.")


@dataclass
class SearchOutcome:
    hits: list[HistoryHit]
    semantic: bool
    """Meaning took part in the ranking (an embedder is registered and worked)."""
    pending_vectors: int = 0
    """Texts not embedded yet (a later search embeds them); those runs are found by words only."""
    problem: str | None = None


HIT_COLUMNS = (
    "id, backend, label, program, status, exit_code, error_category, error_message, summary, started_at, duration_s, "
    "chain_id, attempt, source, verdict, fixed_by, likely_fixed_by"
)


def search(
    conn: sqlite3.Connection,
    query: str,
    run_filter: RunFilter,
    limit: int,
    embedder: Embedder | None = None,
    vectors: VectorIndex | None = None,
) -> SearchOutcome:
    where, params = run_filter.where()
    if not query.strip():
        return SearchOutcome(_recent(conn, where, params, limit), semantic=False)
    lexical = _lexical(conn, query, where, params)
    semantic: list[tuple[int, int]] = []
    pending, problem = 0, None
    if embedder is not None and vectors is not None:
        try:
            pending = vectors.catch_up(conn, embedder)
            semantic = _semantic(conn, embedder, vectors, query, where, params)
        except sqlite3.Error:
            raise
        except Exception as error:  # a plugin's embedder: its failure costs the meaning, not the search
            problem = f"search by meaning failed ({embedder.name}: {type(error).__name__}: {error}); words only"
            embedder = None
    scores: dict[int, float] = {}
    found: dict[int, set[str]] = {}
    repeats: dict[int, int] = {}
    for kind, ranking in (("words", lexical), ("meaning", semantic)):
        for rank, (seq, count) in enumerate(ranking):
            scores[seq] = scores.get(seq, 0.0) + 1.0 / (RRF_K + rank + 1)
            found.setdefault(seq, set()).add(kind)
            repeats[seq] = count
    best = sorted(scores, key=lambda seq: (-scores[seq], -seq))[:limit]
    rows = _rows(conn, best)
    hits = []
    for seq in best:
        kinds = found[seq]
        matched: Matched = "both" if len(kinds) == 2 else next(iter(kinds))  # type: ignore[assignment]
        hits.append(_hit(rows[seq], repeats[seq], matched, round(scores[seq] * 1000, 3)))
    return SearchOutcome(hits, semantic=embedder is not None, pending_vectors=pending, problem=problem)


def fts_query(query: str) -> str | None:
    """The words of a free-text query as an FTS5 OR-query; every term quoted, so no syntax leaks through."""
    terms = list(dict.fromkeys(term.lower() for term in re.findall(r"[^\W_]+", query)))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{term}"' for term in terms) or None


def _lexical(conn: sqlite3.Connection, query: str, where: str, params: list[Any]) -> list[tuple[int, int]]:
    match = fts_query(query)
    if match is None:
        return []
    # bm25 weights: program, label, error message, summary. Equal texts score alike, so grouping keeps order.
    return [
        (row[0], row[1])
        for row in conn.execute(
            "WITH matches AS MATERIALIZED (SELECT runs.seq AS seq, runs.text_hash AS text, runs.status AS status, "
            "bm25(runs_fts, 1.0, 2.0, 1.5, 1.5) AS rank "
            f"FROM runs_fts JOIN runs ON runs.seq = runs_fts.rowid WHERE runs_fts MATCH ? AND {where}) "
            "SELECT max(seq), count(*), min(rank) AS best FROM matches GROUP BY text, status ORDER BY best LIMIT ?",
            (match, *params, CANDIDATES),
        )
    ]


def _semantic(
    conn: sqlite3.Connection, embedder: Embedder, vectors: VectorIndex, query: str, where: str, params: list[Any]
) -> list[tuple[int, int]]:
    import numpy as np

    query_vector = np.asarray(embedder.embed([query]), dtype=np.float32)[0]
    nearest = vectors.nearest(query_vector, CANDIDATES, MIN_SIMILARITY)
    if not nearest:
        return []
    order = {text_hash: rank for rank, (text_hash, _) in enumerate(nearest)}
    rows = conn.execute(
        f"SELECT max(seq), count(*), text_hash FROM runs WHERE text_hash IN ({', '.join('?' * len(order))}) "
        f"AND {where} GROUP BY text_hash, status",
        (*order, *params),
    ).fetchall()
    rows.sort(key=lambda row: (order[row[2]], -row[0]))
    return [(row[0], row[1]) for row in rows]


def _recent(conn: sqlite3.Connection, where: str, params: list[Any], limit: int) -> list[HistoryHit]:
    rows = conn.execute(
        f"SELECT {HIT_COLUMNS} FROM runs WHERE {where} ORDER BY started_at DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [_hit(row, 1, "recent", 0.0) for row in rows]


def _rows(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, sqlite3.Row]:
    if not seqs:
        return {}
    rows = conn.execute(
        f"SELECT seq, {HIT_COLUMNS} FROM runs WHERE seq IN ({', '.join('?' * len(seqs))})", seqs
    ).fetchall()
    return {row["seq"]: row for row in rows}


def _hit(row: sqlite3.Row, repeats: int, matched: Matched, score: float) -> HistoryHit:
    program = row["program"]
    if program is not None and len(program) > PROGRAM_PREVIEW_CHARS:
        program = program[:PROGRAM_PREVIEW_CHARS] + f"… [{len(program) - PROGRAM_PREVIEW_CHARS} more characters]"
    return HistoryHit(
        id=row["id"],
        program=program,
        label=row["label"],
        backend=row["backend"],
        status=row["status"],
        exit_code=row["exit_code"],
        error=row["error_message"],
        error_category=row["error_category"],
        summary=row["summary"],
        when=when(row["started_at"]),
        duration_s=row["duration_s"],
        chain_id=row["chain_id"],
        attempt=row["attempt"],
        source=row["source"],
        verdict=row["verdict"],
        fixed_by=row["fixed_by"],
        likely_fixed_by=row["likely_fixed_by"],
        repeats=repeats,
        matched=matched,
        score=score,
    )
