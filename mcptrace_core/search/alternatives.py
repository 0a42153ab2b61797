"""Stand-ins: the runnable example to offer next to one that needs kprobes (or kfuncs) this host lacks.

An author who writes a kprobe example usually says in its description which example does the job
without kprobes ("net.tcp-connects does the same from a tracepoint"); such a named example of the same
pack is preferred. Otherwise the runnable example whose text is most alike stands in, if it is alike
enough to be the same job and is about the same subject (its category: memory, network, ...): words
alone made an imported user pack's unrelated example stand in for a core one. Texts are compared
without their pack's house style (see ``remove_house_style``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcptrace_core.search.engine import SearchIndex

SUBSTITUTABLE = frozenset({"probe type kprobe", "probe type kfunc"})
"""Gaps a runnable example can fill: a probe mechanism this kernel lacks (not a missing tracepoint)."""
MIN_SIMILARITY = 0.3
"""How alike an unnamed example must be to stand in (cosine after removing each pack's house style)."""
MIN_PACK_FOR_STYLE = 5
"""A pack needs this many examples before the mean of their vectors says more about style than content."""
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
    if index.vectors is None:
        return max(named, key=lambda other: scores.get(other, 0.0)) if named else None
    centred = index.house_style_removed
    similarity = centred @ centred[row]
    if named:
        return max(named, key=lambda other: float(similarity[other]))
    subject = _subject(capability)
    candidates = [
        (float(similarity[other]) + 0.5 * scores.get(other, 0.0), other)
        for other in index.example_rows.values()
        if similarity[other] >= MIN_SIMILARITY and _eligible(index, other, row, scores)
        and _subject(index.capabilities[other]) == subject
    ]
    return max(candidates)[1] if candidates else None


def remove_house_style(vectors: Any, sources: Sequence[str]) -> Any:
    """The vectors less what all texts of their source share, normalised again.

    The examples of one pack are written alike (the host pack describes every tool with the same
    sentences), which makes any two of them look related; comparing what is left after the mean of
    their pack is taken away finds the example that does the same job, whichever pack it is in.
    """
    import numpy

    centred = numpy.array(vectors, dtype=numpy.float32)
    labels = numpy.array(sources)
    for source in set(sources):
        members = labels == source
        if members.sum() >= MIN_PACK_FOR_STYLE:
            centred[members] -= centred[members].mean(axis=0)
    norms = numpy.linalg.norm(centred, axis=1, keepdims=True)
    return centred / numpy.maximum(norms, 1e-9)


def _eligible(index: SearchIndex, other: int, row: int, scores: dict[int, float]) -> bool:
    return (
        other != row
        and other in scores
        and index.availability[other].runnable
        and index.capabilities[other].kind == "example"
    )


def _subject(capability: Any) -> str | None:
    """What an example is about: its category (None for anything that is not an example)."""
    return getattr(capability.item, "category", None)
