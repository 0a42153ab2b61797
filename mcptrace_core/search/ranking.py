"""Hybrid ranking: meaning, exact terms, names the query gives, and whether it runs here.

The three signals are on different scales, so they are fused as a weighted sum of comparable parts:
cosine similarity (about 0..1 for related texts), BM25 divided by the best BM25 of this query (0..1)
and the identifier weight (0..1). The weights were tuned on the development questions
(benchmarks/search_eval.py), never by editing example texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    semantic: float = 1.0
    lexical: float = 0.35
    named: float = 1.0
    """A query that names a tool or a probe wants that one first: more than any difference in meaning."""
    runnable: float = 0.03
    """Among equally good answers, the one that runs here comes first."""


WEIGHTS = Weights()


def fuse(
    rows: Iterable[int],
    semantic: dict[int, float],
    lexical: dict[int, float],
    named: dict[int, float],
    runnable: Sequence[bool],
    weights: Weights = WEIGHTS,
) -> list[tuple[int, float]]:
    """Every row with its fused score, best first (ties keep index order, so results are stable)."""
    best_lexical = max(lexical.values(), default=0.0) or 1.0
    scored = [
        (
            row,
            weights.semantic * semantic.get(row, 0.0)
            + weights.lexical * lexical.get(row, 0.0) / best_lexical
            + weights.named * named.get(row, 0.0)
            + (weights.runnable if runnable[row] else 0.0),
        )
        for row in rows
    ]
    scored.sort(key=lambda item: -item[1])
    return scored
