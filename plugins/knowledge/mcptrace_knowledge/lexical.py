"""Exact-term ranking: BM25 over the knowledge base, and a name index over every probe on the host.

Documented probes are found by the words of their documentation; the thousands of undocumented host
probes only by the parts of their names (``thermal_zone_trip`` is found by "thermal" or "trip").
Words are stemmed (PyStemmer) so "opens" finds "open"; identifiers are kept whole and split at ``_``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mcptrace_knowledge.docs import ProbeDoc

WORD = re.compile(r"[a-z0-9_]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in into is it its me my of on or per show "
    "that the their them these this those to trace traces tracing was what when where which who why with "
    "you your all any each see find get probe probes".split()
)
K1, B = 1.2, 0.75
NAME_WEIGHT = 3
"""Words of a probe's own name count three times: a name says what the probe is."""
KEYWORD_WEIGHT = 2


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball's English stemmer in C

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=32768)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """Stemmed words without stopwords; ``sys_enter_openat`` gives itself and ``sys``, ``enter``, ``openat``."""
    found = []
    for word in WORD.findall(text.lower().replace("-", "_")):
        if word in STOPWORDS:
            continue
        if "_" in word:
            parts = [part for part in word.split("_") if len(part) > 1 and part not in STOPWORDS]
            found.append(word.strip("_"))
            found.extend(stem(part) for part in parts)
        else:
            found.append(stem(word))
    return found


def name_terms(name: str) -> list[str]:
    """The terms of a probe name: every ``:``-separated part except the probe type and file paths."""
    parts = name.split(":")[1:] or [name]
    return terms(" ".join(part for part in parts if "/" not in part))


def _doc_terms(doc: ProbeDoc) -> list[str]:
    words = name_terms(doc.name) * NAME_WEIGHT + terms(" ".join(doc.keywords)) * KEYWORD_WEIGHT
    words += terms(doc.fires) + terms(" ".join(doc.questions)) + terms(" ".join(doc.fields))
    return words


@dataclass
class Bm25:
    """Okapi BM25 postings over a list of documents (positions are their rows)."""

    postings: dict[str, list[tuple[int, int]]]
    lengths: list[int]

    @classmethod
    def build(cls, documents: Iterable[list[str]]) -> Bm25:
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for row, words in enumerate(documents):
            counts = Counter(words)
            lengths.append(sum(counts.values()))
            for term, count in counts.items():
                postings.setdefault(term, []).append((row, count))
        return cls(postings, lengths)

    def idf(self, term: str) -> float:
        found = len(self.postings.get(term, ()))
        return math.log(1 + (len(self.lengths) - found + 0.5) / (found + 0.5)) if found else 0.0

    def scores(self, query_terms: Sequence[str]) -> dict[int, float]:
        count = len(self.lengths)
        if not count:
            return {}
        average = sum(self.lengths) / count or 1.0
        scores: dict[int, float] = {}
        for term in set(query_terms):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = self.idf(term)
            for row, frequency in posting:
                norm = K1 * (1 - B + B * self.lengths[row] / average)
                scores[row] = scores.get(row, 0.0) + idf * frequency * (K1 + 1) / (frequency + norm)
        return scores


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
    tokens = {token.strip(".,;!?'\"()").lower() for token in goal.split()}
    return {token for token in tokens if "_" in token or ":" in token}


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
