"""Stand-ins: the runnable example to offer next to one that needs kprobes (or kfuncs) this host lacks.

An author who writes a kprobe example usually says in its description which example does the job
without kprobes ("net.tcp-connects does the same from a tracepoint"); such a named example of the same
pack is preferred. Otherwise the runnable example whose text is most alike stands in, if it is alike
enough to be the same job.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcptrace_core.search.engine import SearchIndex

SUBSTITUTABLE = frozenset({"probe type kprobe", "probe type kfunc"})
"""Gaps a runnable example can fill: a probe mechanism this kernel lacks (not a missing tracepoint)."""
MIN_SIMILARITY = 0.45
"""How alike (cosine of their texts) an unnamed example must be to stand in."""
POOL = 32
ID_LIKE = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]")


def find(index: SearchIndex, row: int, scores: dict[int, float]) -> int | None:
    """The row that stands in for ``row``, or None (runnable already, not an example, or nothing fits).

    :param scores: the fused query score of each row that the search's filters (kinds, tags) allow;
        only those rows may stand in.
    """
    capability = index.capabilities[row]
    availability = index.availability[row]
    if availability.runnable or capability.kind != "example":
        return None
    if not SUBSTITUTABLE.intersection(availability.missing):
        return None
    named = [
        other
        for token in ID_LIKE.findall(capability.text)
        if (other := index.example_rows.get((capability.source, token))) is not None
        and _eligible(index, other, row, scores)
    ]
    if named:
        return max(named, key=lambda other: (_similarity(index, row, other), scores.get(other, 0.0)))
    if index.vectors is None:
        return None
    similar = index.vectors.similar(index.vectors.vector(row), POOL)
    candidates = [
        (similarity + 0.5 * scores.get(other, 0.0), other)
        for other, similarity in similar.items()
        if similarity >= MIN_SIMILARITY and _eligible(index, other, row, scores)
    ]
    return max(candidates)[1] if candidates else None


def _eligible(index: SearchIndex, other: int, row: int, scores: dict[int, float]) -> bool:
    return (
        other != row
        and other in scores
        and index.availability[other].runnable
        and index.capabilities[other].kind == "example"
    )


def _similarity(index: SearchIndex, row: int, other: int) -> float:
    if index.vectors is None:
        return 0.0
    return float(index.vectors.vector(row) @ index.vectors.vector(other))
