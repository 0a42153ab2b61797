"""Exact-term ranking: BM25 over the knowledge base, and a name index over every probe on the host.

Documented probes are found by the words of their documentation; the thousands of undocumented host
probes only by the parts of their names (``thermal_zone_trip`` is found by "thermal" or "trip"). Words
are made into terms and scored by search's lexical module (stemming, identifiers kept whole and split
at ``_``, BM25), so discover_probes and search_examples read a query the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mcptrace_core.program.probespec import expand_type
from mcptrace_core.search.lexical import STOPWORDS, Bm25
from mcptrace_core.search.lexical import terms as search_terms

from mcptrace_knowledge.docs import ProbeDoc

GOAL_STOPWORDS = STOPWORDS | frozenset("see find get probe probes".split())
"""Words a goal uses to ask for probes, not to say which."""
NAME_WEIGHT = 3
"""Words of a probe's own name count three times: a name says what the probe is."""
KEYWORD_WEIGHT = 2


def terms(text: str) -> list[str]:
    """Search's terms of a goal or a document; a dashed name (``cpu-clock``) counts as one identifier."""
    return search_terms(text.replace("-", "_"), GOAL_STOPWORDS)


def name_terms(name: str) -> list[str]:
    """The terms of a probe name: every ``:``-separated part except the probe type and file paths."""
    parts = name.split(":")[1:] or [name]
    return terms(" ".join(part for part in parts if "/" not in part))


def _doc_terms(doc: ProbeDoc) -> list[str]:
    words = name_terms(doc.name) * NAME_WEIGHT + terms(" ".join(doc.keywords)) * KEYWORD_WEIGHT
    words += terms(doc.fires) + terms(" ".join(doc.questions)) + terms(" ".join(doc.fields))
    return words


@dataclass
class KnowledgeIndex:
    """BM25 over the documented probes, with the terms of each kept to explain a match."""

    docs: list[ProbeDoc]
    bm25: Bm25
    doc_terms: list[frozenset[str]]
    names: NameIndex
    """The documented probes' names, to see which ones a goal names outright."""

    @classmethod
    def build(cls, docs: Sequence[ProbeDoc]) -> KnowledgeIndex:
        documents = [_doc_terms(doc) for doc in docs]
        names = NameIndex.build([doc.name for doc in docs])
        return cls(list(docs), Bm25.build(documents), [frozenset(words) for words in documents], names)


def name_keys(name: str) -> set[str]:
    """How a goal may name a probe outright: in full, as ``category:name``, or by its last part."""
    lowered = name.lower()
    parts = [part for part in lowered.split(":") if part]
    return {lowered, ":".join(parts[1:]), parts[-1]} if len(parts) > 1 else {lowered}


def named_in(goal: str) -> set[str]:
    """Tokens of a goal shaped like probe names: sched_switch, tcp:tcp_probe, kprobe:vfs_read."""
    tokens = {token.strip(".,;!?'\"()") for token in goal.split()}
    return {expand_type(token).lower() for token in tokens if "_" in token or ":" in token}


@dataclass
class NameIndex:
    """Name parts -> probes, over every probe the host lists (documented or not)."""

    names: list[str]
    parts: dict[str, list[int]]
    name_terms: list[frozenset[str]]
    keys: dict[str, list[int]]
    """Exact ways of naming each probe (see name_keys) -> rows."""

    @classmethod
    def build(cls, names: Sequence[str]) -> NameIndex:
        parts: dict[str, list[int]] = {}
        keys: dict[str, list[int]] = {}
        all_terms = []
        for row, name in enumerate(names):
            found = frozenset(name_terms(name))
            all_terms.append(found)
            for term in found:
                parts.setdefault(term, []).append(row)
            for key in name_keys(name):
                keys.setdefault(key, []).append(row)
        return cls(list(names), parts, all_terms, keys)

    def named(self, goal: str) -> set[int]:
        """Rows the goal names outright."""
        return {row for token in named_in(goal) for row in self.keys.get(token, ())}

    def scores(self, query_terms: Sequence[str]) -> dict[int, float]:
        """Sum of the rarity (idf) of the query terms each name contains.

        ``thermal temperature`` scores thermal:thermal_temperature above thermal:thermal_zone_trip; a
        term in half the names (``sys``, ``enter``) adds little.
        """
        total = len(self.names) or 1
        scores: dict[int, float] = {}
        for term in set(query_terms):
            rows = self.parts.get(term)
            if not rows:
                continue
            weight = math.log(1 + total / len(rows))
            for row in rows:
                scores[row] = scores.get(row, 0.0) + weight
        return scores
