"""Rank runs by the words of a query (SQLite FTS5, bm25), at a cost bounded however common the words are.

bm25 costs about 2 microseconds per matching row, so ranking every run that contains a word as common
as 'count' would take a quarter of a second over 100,000 runs. Instead the runs are read newest first,
in slices of rowids that start small and double, until POOL matching runs (after the filters) are in
hand, so a common word costs one small slice and a rare one a few large ones:

- first the runs that contain every word (an AND query; it usually suffices for a specific query),
- then, if those are too few, the runs that contain any word (an OR query).

Rare words are therefore ranked over the whole history, exactly; very common ones over the newest
matches, which for a history is the part that matters. bm25 scores come from whole-index statistics,
so scores of different slices compare directly.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

GroupKey = tuple[str, str]
"""(text_hash, status): runs of the same text that ended the same way, shown as one hit."""

FIRST_SLICE_ROWS = 2_000
MAX_SLICE_ROWS = 64_000
POOL = 400
MAX_QUERY_TERMS = 32
STOPWORDS = frozenset(
    "a an and are as at be by can did do does each every for from how i in is it me my of on or per show "
    "that the this to was what when where which who why with".split()
)
_WEIGHTS = "1.0, 2.0, 1.5, 1.5"  # program, label, error message, summary


def query_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without duplicates and (unless nothing else is left) stopwords."""
    words = list(dict.fromkeys(word.lower() for word in re.findall(r"[^\W_]+", query)))[:MAX_QUERY_TERMS]
    return [word for word in words if word not in STOPWORDS] or words


def fts_expression(terms: list[str], operator: str) -> str:
    """Terms joined by AND or OR, each quoted: no character of the query is FTS5 syntax."""
    return f" {operator} ".join(f'"{term}"' for term in terms)


def rank_by_words(conn: sqlite3.Connection, query: str, where: str, params: list[Any], floor_seq: int) -> list[GroupKey]:
    """Groups of runs matching the query's words and the filter, best bm25 first (newer first on ties)."""
    terms = query_terms(query)
    top = conn.execute("SELECT max(seq) FROM runs").fetchone()[0]
    if not terms or top is None:
        return []
    best: dict[GroupKey, float] = {}
    for operator in (["AND"] if len(terms) > 1 else []) + ["OR"]:
        expression = fts_expression(terms, operator)
        pooled, upper, slice_rows = 0, top + 1, FIRST_SLICE_ROWS
        while upper > floor_seq and pooled < POOL:
            lower = max(floor_seq, upper - slice_rows)
            slice_rows = min(2 * slice_rows, MAX_SLICE_ROWS)
            rows = conn.execute(
                f"SELECT runs.text_hash, runs.status, bm25(runs_fts, {_WEIGHTS}) "
                "FROM runs_fts CROSS JOIN runs ON runs.seq = runs_fts.rowid "  # CROSS: the index drives
                f"WHERE runs_fts MATCH ? AND runs_fts.rowid >= ? AND runs_fts.rowid < ? AND {where} "
                "ORDER BY runs_fts.rowid DESC",
                (expression, lower, upper, *params),
            )
            for text_hash, status, score in rows:
                key = (text_hash, status)
                if key not in best or score < best[key]:
                    best[key] = score
                pooled += 1
            upper = lower
        if pooled >= POOL:
            break
    return sorted(best, key=best.__getitem__)  # bm25 is lower for better matches; sort is stable
