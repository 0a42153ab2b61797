"""Search past runs by words (lexical.py) and, with an embedder, by meaning (vectors.py); fuse the rankings.

Runs of the same text that ended the same way are one hit (the newest, with ``repeats``): a program run
fifty times is one answer, not fifty. Lexical and semantic rankings are fused by reciprocal rank, so a
run found both ways comes first and neither score scale needs calibrating against the other.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from mcptrace_core.history.filters import RunFilter
from mcptrace_core.history.lexical import GroupKey, rank_by_words
from mcptrace_core.history.records import when
from mcptrace_core.models import Model
from mcptrace_core.runs.overhead import RunOverhead

if TYPE_CHECKING:
    from mcptrace_core.history.vectors import VectorIndex
    from mcptrace_core.interfaces import Embedder

CANDIDATES = 200
"""Groups taken from each ranking before fusing."""
RRF_K = 60
"""The usual damping of reciprocal rank fusion: rank 1 and rank 5 differ, rank 101 and 105 hardly."""
MIN_SIMILARITY = 0.25
"""Cosine similarity below which a run's text is taken as unrelated to the query. Measured with onnx-minilm
(benchmarks/history_floor.py: 246 example programs as runs, the 40 development questions, 30 off-topic
questions): every question's best relevant run scores >= 0.31; the best run of an off-topic question scores
0.15 at the median, 0.27 at most. At 0.20, 3 of 30 off-topic questions found something; at 0.25, 1, keeping
84% of all relevant (question, run) pairs; at 0.30, none, but only 76% of the relevant pairs."""
PROGRAM_PREVIEW_CHARS = 2000
FLOOR_MARGIN = 1000

Matched = Literal["words", "meaning", "both", "recent"]


class HistoryHit(Model):
    model_config = ConfigDict(**Model.model_config, defer_build=True)  # built on first use, not at import

    id: str = Field(description="The execution_id; get_result shows its output and maps.")
    program: str | None = Field(description="The program (cut at 2000 characters); null for a tool run.")
    label: str = Field(description="The program's first line or the tool and its arguments.")
    backend: str
    status: str = Field(
        description="How the run ended (or running/interrupted); refused: the safety gate turned it down, nothing ran."
    )
    exit_code: int | None
    error: str | None = Field(description="The first error, when it failed or was refused.")
    error_category: str | None = Field(
        description="The first error's category (syntax, attach, ...); for a refusal without a validation error, "
        "why: blocked (by the safety policy) or not_confirmed (by the user)."
    )
    summary: str | None = Field(description="The analysis summary of its output, when it was analysed.")
    when: str = Field(description="When it started (ISO 8601, UTC).")
    duration_s: float | None
    chain_id: str | None
    attempt: int | None
    source: str | None = Field(description="The example or template it came from, when known.")
    verdict: str | None = Field(description="Its validation verdict (allow/confirm/block), when it was validated.")
    fixed_by: str | None = Field(description="The later attempt of its retry chain that succeeded: reuse that fix.")
    likely_fixed_by: str | None = Field(
        description="Heuristic link outside retry chains: a similar program the same server ran successfully next."
    )
    fix_program: str | None = Field(description="The program of the run in fixed_by (or likely_fixed_by), to reuse.")
    overhead: RunOverhead | None = Field(None, description="What the run cost the host (final figures), when measured.")
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


_STORED = (
    "id", "label", "backend", "status", "exit_code", "error_category", "summary", "duration_s", "chain_id",
    "attempt", "source", "verdict", "fixed_by", "likely_fixed_by",
)
"""Hit fields read as they are stored."""
HIT_SELECT = (
    f"SELECT runs.seq, runs.program, runs.error_message, runs.started_at, runs.overhead, {', '.join('runs.' + c for c in _STORED)}, "
    "fix.program AS fix_program FROM runs LEFT JOIN runs AS fix ON fix.id = coalesce(runs.fixed_by, runs.likely_fixed_by)"
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
    lexical = rank_by_words(conn, query, where, params, _floor_seq(conn, run_filter))
    semantic: list[GroupKey] = []
    pending, problem = 0, None
    if embedder is not None and vectors is not None:
        try:
            pending = vectors.catch_up(conn, embedder)
            semantic = _rank_by_meaning(conn, embedder, vectors, query, where, params)
        except sqlite3.Error:
            raise
        except Exception as error:  # a plugin's embedder: its failure costs the meaning, not the search
            problem = f"search by meaning failed ({embedder.name}: {type(error).__name__}: {error}); words only"
            embedder = None
    scores: dict[GroupKey, float] = {}
    found: dict[GroupKey, set[Matched]] = {}
    rankings: tuple[tuple[Matched, list[GroupKey]], ...] = (("words", lexical), ("meaning", semantic))
    for kind, ranking in rankings:
        for rank, key in enumerate(ranking[:CANDIDATES]):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
            found.setdefault(key, set()).add(kind)
    best = sorted(scores, key=lambda key: -scores[key])[:limit]  # stable: ties keep the words' order
    groups = _newest_of_groups(conn, best, where, params)
    rows = _rows(conn, [seq for seq, _ in groups.values()])
    hits = []
    for key in best:
        seq, repeats = groups[key]
        kinds = found[key]
        matched: Matched = "both" if len(kinds) == 2 else next(iter(kinds))
        hits.append(_hit(rows[seq], repeats, matched, round(scores[key] * 1000, 3)))
    return SearchOutcome(hits, semantic=embedder is not None, pending_vectors=pending, problem=problem)


def _floor_seq(conn: sqlite3.Connection, run_filter: RunFilter) -> int:
    """A rowid below which no run of the filter's time range lies (0 without a time range).

    Rowids follow start times, except that runs recorded by several processes at once may land a few
    rows out of order; FLOOR_MARGIN rows of slack cover that (the exact time condition still applies).
    """
    since = run_filter.since()
    if since is None:
        return 0
    row = conn.execute("SELECT seq FROM runs WHERE started_at >= ? ORDER BY started_at LIMIT 1", (since,)).fetchone()
    return max(0, row[0] - FLOOR_MARGIN) if row is not None else 1 << 62


def _rank_by_meaning(
    conn: sqlite3.Connection, embedder: Embedder, vectors: VectorIndex, query: str, where: str, params: list[Any]
) -> list[GroupKey]:
    import numpy as np

    query_vector = np.asarray(embedder.embed([query]), dtype=np.float32)[0]
    nearest = vectors.nearest(query_vector, CANDIDATES, MIN_SIMILARITY)
    if not nearest:
        return []
    order = {text_hash: rank for rank, (text_hash, _) in enumerate(nearest)}
    keys = conn.execute(
        f"SELECT DISTINCT text_hash, status FROM runs INDEXED BY runs_text WHERE text_hash IN ({', '.join('?' * len(order))}) AND {where}",
        (*order, *params),
    ).fetchall()
    return sorted(((text_hash, status) for text_hash, status in keys), key=lambda key: order[key[0]])


def _newest_of_groups(
    conn: sqlite3.Connection, keys: list[GroupKey], where: str, params: list[Any]
) -> dict[GroupKey, tuple[int, int]]:
    """For each group: its newest run (seq) and how many runs it has, within the filter."""
    if not keys:
        return {}
    hashes = list({text_hash for text_hash, _ in keys})
    rows = conn.execute(
        f"SELECT text_hash, status, max(seq), count(*) FROM runs INDEXED BY runs_text WHERE text_hash IN ({', '.join('?' * len(hashes))}) "
        f"AND {where} GROUP BY text_hash, status",
        (*hashes, *params),
    ).fetchall()
    return {(row[0], row[1]): (row[2], row[3]) for row in rows}


def _recent(conn: sqlite3.Connection, where: str, params: list[Any], limit: int) -> list[HistoryHit]:
    rows = conn.execute(f"{HIT_SELECT} WHERE {where} ORDER BY runs.started_at DESC LIMIT ?", (*params, limit))
    return [_hit(row, 1, "recent", 0.0) for row in rows]


def _rows(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, sqlite3.Row]:
    if not seqs:
        return {}
    rows = conn.execute(f"{HIT_SELECT} WHERE runs.seq IN ({', '.join('?' * len(seqs))})", seqs).fetchall()
    return {row["seq"]: row for row in rows}


def _hit(row: sqlite3.Row, repeats: int, matched: Matched, score: float) -> HistoryHit:
    return HistoryHit(
        **{name: row[name] for name in _STORED},
        program=_preview(row["program"]),
        fix_program=_preview(row["fix_program"]),
        error=row["error_message"],
        overhead=json.loads(row["overhead"]) if row["overhead"] else None,
        when=when(row["started_at"]),
        repeats=repeats,
        matched=matched,
        score=score,
    )


def _preview(program: str | None) -> str | None:
    if program is None or len(program) <= PROGRAM_PREVIEW_CHARS:
        return program
    return program[:PROGRAM_PREVIEW_CHARS] + f"… [{len(program) - PROGRAM_PREVIEW_CHARS} more characters]"
