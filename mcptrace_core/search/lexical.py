"""Exact terms: BM25 over words and probe names, and a lookup of the identifiers a query names.

Meaning alone ranks ``opensnoop`` or ``sched_switch`` poorly: to the embedder they are rare word pieces.
So words are stemmed (``opens`` finds ``open``), identifiers are kept whole and also split at ``_``
(``tcp_retransmit_skb`` finds ``retransmit``), and a query token that is exactly a tool, probe or
example name marks the capabilities that carry it. ``terms`` and ``Bm25`` are the one implementation
of both for every ranking in mcptrace (search, discover_probes).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mcptrace_core.search import probes as probe_specs
from mcptrace_core.search.capability import Capability

WORD = re.compile(r"[a-z0-9_]+")
QUERY_NAME = re.compile(r"[A-Za-z0-9_:./*+\[\]-]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in into is it its me my of on or per show shows "
    "that the their them these this those to trace traces tracing was what when where which who why with "
    "you your all any each".split()
    # Where, not what: every capability traces "this machine"; as a term, "machine" matched the one example
    # that mentions "the whole machine" and ranked OOM kills over kill signals for "who is killing
    # processes on this machine".
    + "machine machines computer host hosts".split()
)
IDENTIFIER_MARKS = "_:/."
RARE_WORD_ROWS = 3
"""A plain word in at most this many texts is a name (opensnoop, malloc), not vocabulary (count, latency)."""
K1 = 1.2
B = 0.75
TITLE_REPEAT = 2
"""Title words count twice: a title says what the capability is, the text also says what it is not."""


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball's English stemmer in C, ~2 us a word

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=32768)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Stemmed words, no stopwords; ``sys_enter_openat`` gives itself and ``sys``, ``enter``, ``openat``."""
    found = []
    for word in WORD.findall(text.lower()):
        if word in stopwords:
            continue
        if "_" not in word:
            found.append(stem(word))
            continue
        whole = word.strip("_")
        if whole:
            found.append(whole)
        found.extend(stem(part) for part in word.split("_") if len(part) > 1 and part not in stopwords)
    return found


@dataclass
class Bm25:
    """Okapi BM25 postings over a list of documents given as their terms (positions are their rows)."""

    postings: dict[str, list[tuple[int, int]]]
    lengths: list[int]

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]]) -> Bm25:
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for row, words in enumerate(documents):
            counts = Counter(words)
            lengths.append(sum(counts.values()))
            for term, count in counts.items():
                postings.setdefault(term, []).append((row, count))
        return cls(postings, lengths)

    def scores(self, query_terms: Iterable[str]) -> dict[int, float]:
        """The score of every document sharing a term with the query (the others are left out)."""
        count = len(self.lengths)
        if not count:
            return {}
        average = sum(self.lengths) / count or 1.0
        scores: dict[int, float] = {}
        for term in set(query_terms):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (count - len(posting) + 0.5) / (len(posting) + 0.5))
            for row, frequency in posting:
                norm = K1 * (1 - B + B * self.lengths[row] / average)
                scores[row] = scores.get(row, 0.0) + idf * frequency * (K1 + 1) / (frequency + norm)
        return scores

    def frequency(self, term: str) -> int:
        """In how many documents the term occurs."""
        return len(self.postings.get(term, ()))


def names_in(query: str) -> list[str]:
    """The tokens of a query that could be names: ``opensnoop``, ``t:sched:sched_switch``, ``vfs_read()``."""
    names = []
    for token in QUERY_NAME.findall(query):
        token = token.strip(".,;:!?'\"").removesuffix("()")
        if token:
            names.append(probe_specs.expand(token).lower() if ":" in token else token.lower())
    return names


def _document_terms(capability: Capability) -> list[str]:
    words = terms(capability.title) * TITLE_REPEAT + terms(capability.text)
    words += terms(" ".join(capability.tags)) + terms(" ".join(capability.probes).replace(":", " "))
    return words


@dataclass
class LexicalIndex:
    """BM25 and identifier postings over one list of capabilities (positions are their rows)."""

    words: Bm25
    identifiers: dict[str, set[int]]

    @classmethod
    def build(cls, capabilities: Sequence[Capability]) -> LexicalIndex:
        identifiers: dict[str, set[int]] = {}
        for row, capability in enumerate(capabilities):
            for name in capability.identifiers:
                identifiers.setdefault(name.lower(), set()).add(row)
        return cls(Bm25.build(_document_terms(capability) for capability in capabilities), identifiers)

    def bm25(self, query: str) -> dict[int, float]:
        """Okapi BM25 of every capability sharing a term with the query (rows without one are left out)."""
        return self.words.scores(terms(query))

    def named(self, query: str) -> dict[int, float]:
        """Rows whose identifiers the query names exactly (weight 1.0 each).

        A token shaped like an identifier (``sched_switch``, ``kprobe:vfs_read``, ``files.opens``) names
        every row that carries it. A plain word (``opensnoop``, ``malloc``) names a row only when the word
        is rare in all indexed texts: a tag such as ``count`` or ``latency`` is a word people search
        with, and BM25 already weighs it.
        """
        weights: dict[int, float] = {}
        for name in names_in(query):
            rows = self.identifiers.get(name)
            if not rows:
                continue
            if not any(char in name for char in IDENTIFIER_MARKS) and self._frequency(name) > RARE_WORD_ROWS:
                continue
            for row in rows:
                weights[row] = 1.0
        return weights

    def _frequency(self, word: str) -> int:
        """In how many rows the word occurs (as a stemmed term); a stopword ('trace') occurs in all."""
        found = terms(word)
        if not found:
            return len(self.words.lengths)
        return max(self.words.frequency(term) for term in found)
