"""discover_probes: rank this host's probes for a goal, by meaning and by words, grouped by subsystem.

Documented probes are scored by BM25 over their documentation and, when an embedder is chosen
(``search.embedder``, as for search), by cosine similarity of the goal to their embedded documentation;
undocumented host probes are found by the parts of their names. A probe whose type does not work here
(kprobes on a kernel without them) stays in the answer, marked, below its tracepoint alternative. The
indexes are built on the first call (or ahead of it by ``mcptrace index build``, which caches the
documentation's vectors with search's vector cache) and kept by the engine, which lives as long as the
registry that holds the tool.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from mcptrace_core.interfaces import Embedder
from mcptrace_core.logging import get_logger
from mcptrace_core.search import vectors

from mcptrace_knowledge import lexical
from mcptrace_knowledge.docs import KnowledgeBase, ProbeDoc, probe_type
from mcptrace_knowledge.hostview import HostView, host_view
from mcptrace_knowledge.models import Combination, DiscoveredProbe, DiscoverResult, SubsystemGroup

if TYPE_CHECKING:
    import numpy as np

log = get_logger(__name__)

VECTOR_COLLECTION = "probe-docs"
"""The knowledge base's documentation in search's vector cache (a collection of its own)."""
SEMANTIC_WEIGHT = 0.6
"""Share of meaning in a documented probe's score; the rest is BM25 (both scaled to 0..1 per query)."""
SEMANTIC_FLOOR = 0.2
"""Cosine similarity below which MiniLM texts are unrelated; rescaled to 0."""
NAMED_BONUS = 1.0
"""A goal that names a probe outright ('sched_switch', 'tracepoint:tcp:tcp_probe') puts it first."""
UNDOCUMENTED_WEIGHT = 0.55
"""Name-only matches of undocumented probes rank below documentation matches of similar strength."""
UNUSABLE_FACTOR = 0.8
"""A probe that cannot run here ranks below one that can, but stays visible with its alternative."""
MIN_SCORE = 0.05
"""Documented probes scoring below this are noise, not answers."""
MAX_FIELDS = 10
MAX_COMBINATIONS = 4


@dataclass
class Candidate:
    name: str
    score: float
    doc: ProbeDoc | None
    matched: tuple[str, ...] = ()
    similarity: float | None = None
    """Cosine similarity of the goal to the documentation, in semantic mode."""


class DiscoveryEngine:
    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._host_lock = anyio.Lock()
        self._kb: KnowledgeBase | None = None
        self._docs: lexical.KnowledgeIndex | None = None
        self._semantic: tuple[Embedder, np.ndarray] | None = None
        """The embedder and one L2-normalised row per documented probe (the knowledge index's rows)."""
        self._semantic_problem: str | None = None
        self._host: HostView | None = None
        self._host_names: lexical.NameIndex | None = None

    @property
    def knowledge(self) -> KnowledgeBase:
        """The knowledge base (loaded on first use; async callers use load_knowledge to keep the loop free)."""
        if self._kb is None:
            from mcptrace_knowledge.knowledge import load_knowledge  # TOML and its schema, only when needed

            self._kb = load_knowledge()
        return self._kb

    async def load_knowledge(self) -> KnowledgeBase:
        """The knowledge base, parsed in a worker thread the first time (~0.2 s of TOML and validation)."""
        if self._kb is None:
            await anyio.to_thread.run_sync(lambda: self.knowledge)
        return self.knowledge

    @property
    def host(self) -> HostView | None:
        """The host as seen at the first call (None before it)."""
        return self._host

    async def prepare_host(self, services: object) -> HostView:
        """List the host's probes once (what the probe pages need)."""
        async with self._host_lock:
            if self._host is None:
                knowledge = await self.load_knowledge()
                host = await host_view(services)
                names = [name for name in host.names if name not in knowledge.probes]
                self._host_names = await anyio.to_thread.run_sync(lexical.NameIndex.build, names)
                self._host = host
            return self._host

    async def prepare(
        self, services: Any, progress: vectors.Progress | None = None, rebuild: bool = False
    ) -> str:
        """Load the knowledge base, its indexes, the embedder's vectors and the host's probes, once.

        ``mcptrace index build`` calls it ahead of the first discover_probes (``rebuild`` embeds the
        documentation again); the answer says in one line what is ready.
        """
        await self.prepare_host(services)
        async with self._lock:
            if self._docs is None:
                started = time.perf_counter()
                self._docs = await anyio.to_thread.run_sync(
                    lambda: lexical.KnowledgeIndex.build(self.knowledge.ordered)
                )
                log.info(
                    "knowledge index built",
                    probes=len(self._docs.docs),
                    seconds=round(time.perf_counter() - started, 3),
                )
            embedded = None
            if rebuild or (self._semantic is None and self._semantic_problem is None):
                embedded = await self._prepare_semantic(services, progress, rebuild)
        if self._semantic is None:
            return f"{len(self._docs.docs)} documented probes, ranked by words and names only"
        fresh = f", {embedded} texts embedded now" if embedded is not None else ""
        return f"{len(self._docs.docs)} documented probes, ranked by meaning with {self._semantic[0].name}{fresh}"

    async def _prepare_semantic(
        self, services: Any, progress: vectors.Progress | None, rebuild: bool
    ) -> int | None:
        """Load (or embed) the documentation's vectors; how many texts had to be embedded (None: no vectors)."""
        embedder, off = services.embedder()
        if embedder is None:
            self._semantic_problem = off
            return None
        texts = [doc.search_text() for doc in self._docs.docs]  # type: ignore[union-attr]
        try:
            index = await vectors.load_or_build(embedder, texts, progress, rebuild, collection=VECTOR_COLLECTION)
            matrix = await anyio.to_thread.run_sync(index.all)
            await anyio.to_thread.run_sync(embedder.embed, ["load the model now"])  # not on the first goal
        except Exception as error:  # a broken embedder plugin must not break discovery
            log.warning("embedder failed; discovery falls back to words", embedder=embedder.name, error=str(error))
            self._semantic_problem = (
                f"the embedder {embedder.name!r} failed ({error}); ranked by words and names only"
            )
            return None
        self._semantic, self._semantic_problem = (embedder, matrix), None
        return index.embedded

    async def discover(
        self, services: object, goal: str, probe_types: Sequence[str], limit: int
    ) -> DiscoverResult:
        await self.prepare(services)
        host, docs = self._host, self._docs
        assert host is not None and docs is not None and self._host_names is not None
        similarities = self._similarities(goal)
        candidates = self._score(goal, similarities, probe_types, keep=max(3 * limit, 30))
        candidates = self._with_alternatives(candidates, probe_types)
        for candidate in candidates:
            if not host.type_usable(candidate.name) and host.known:
                candidate.score *= UNUSABLE_FACTOR
        candidates.sort(key=lambda c: (-c.score, c.name))
        chosen = candidates[:limit]
        await host.load_binaries(
            c.name.split(":")[1] for c in chosen if probe_type(c.name) in ("uprobe", "uretprobe")
        )
        probes = [await self._describe(candidate, goal) for candidate in chosen]
        return DiscoverResult(
            goal=goal,
            mode="semantic+lexical" if similarities is not None else "lexical-only",
            groups=self._group(probes),
            combinations=self._combinations(probes),
            total=len(probes),
            notes=self._notes(probes),
        )

    def _similarities(self, goal: str) -> list[float] | None:
        """Embed the goal on the event loop: the model is loaded by prepare() (in a thread), and one short
        text takes 2-3 ms, less than a hop to a worker thread costs on a busy host (+10 ms measured at
        load 8 on 2 cores)."""
        if self._semantic is None:
            return None
        embedder, matrix = self._semantic
        try:
            return (matrix @ embedder.embed([goal])[0]).tolist()  # type: ignore[no-any-return]
        except Exception as error:  # keep answering by words if the model breaks mid-life
            log.warning("query embedding failed", error=str(error))
            return None

    def _score(
        self, goal: str, similarities: list[float] | None, probe_types: Sequence[str], keep: int
    ) -> list[Candidate]:
        """The ``keep`` best documented and the ``keep`` best undocumented probes of the wanted types."""
        docs, names = self._docs, self._host_names
        assert docs is not None and names is not None
        query = lexical.terms(goal)
        wanted = set(probe_types)
        bm25 = docs.bm25.scores(query)
        top_bm25 = max(bm25.values(), default=0.0) or 1.0
        named_docs = docs.names.named(goal)
        meaning = _rescaled(similarities)
        rows = set(bm25) | named_docs | ({row for row, value in enumerate(meaning) if value > 0} if meaning else set())
        scores: dict[int, float] = {}
        for row in rows:
            if wanted and docs.docs[row].type not in wanted:
                continue
            words = bm25.get(row, 0.0) / top_bm25
            score = SEMANTIC_WEIGHT * meaning[row] + (1 - SEMANTIC_WEIGHT) * words if meaning else words
            scores[row] = score + (NAMED_BONUS if row in named_docs else 0.0)
        candidates = []
        for row in heapq.nlargest(keep, scores, key=scores.__getitem__):
            if scores[row] > MIN_SCORE:
                doc = docs.docs[row]
                matched = tuple(term for term in dict.fromkeys(query) if term in docs.doc_terms[row])
                similarity = similarities[row] if similarities is not None else None
                candidates.append(Candidate(doc.name, scores[row], doc, matched, similarity))
        name_scores = names.scores(query)
        top_names = max(name_scores.values(), default=0.0) or 1.0
        named_rows = names.named(goal)
        host_scores = {
            row: UNDOCUMENTED_WEIGHT * name_scores.get(row, 0.0) / top_names + (NAMED_BONUS if row in named_rows else 0.0)
            for row in set(name_scores) | named_rows
            if not wanted or probe_type(names.names[row]) in wanted
        }
        for row in heapq.nlargest(keep, host_scores, key=host_scores.__getitem__):
            matched = tuple(term for term in dict.fromkeys(query) if term in names.name_terms[row])
            candidates.append(Candidate(names.names[row], host_scores[row], None, matched))
        return candidates

    def _with_alternatives(self, candidates: list[Candidate], probe_types: Sequence[str]) -> list[Candidate]:
        """Rank the tracepoint alternative of every probe that cannot run here just below it (it will end up
        above it once unusable probes are demoted), adding the alternative when it did not match by itself."""
        host = self._host
        by_name = {candidate.name: candidate for candidate in candidates}
        for candidate in list(candidates):
            doc = candidate.doc
            if doc is None or not doc.alternative or host is None or host.type_usable(doc.name):
                continue
            if probe_types and probe_type(doc.alternative) not in probe_types:
                continue
            score = candidate.score * 0.99
            existing = by_name.get(doc.alternative)
            if existing is None:
                by_name[doc.alternative] = Candidate(
                    doc.alternative, score, self.knowledge.probes.get(doc.alternative), candidate.matched
                )
            elif existing.score < score:
                existing.score = score
        return list(by_name.values())

    async def _describe(self, candidate: Candidate, goal: str) -> DiscoveredProbe:
        host = self._host
        assert host is not None
        doc = candidate.doc
        exists = await host.exists(candidate.name)
        usable = host.type_usable(candidate.name) and exists is not False
        return DiscoveredProbe(
            name=candidate.name,
            type=probe_type(candidate.name),
            description=doc.fires if doc else "Not documented by mcptrace; found by its name on this host.",
            why_relevant=_why(candidate, goal),
            fields=await self._fields(candidate.name, doc),
            usable_here=usable,
            exists_here=exists,
            companions=list(doc.companions) if doc else [],
            alternative=doc.alternative if doc else None,
            documented=doc is not None,
            score=round(candidate.score, 4),
        )

    async def _fields(self, name: str, doc: ProbeDoc | None) -> list[str]:
        """Useful fields with this host's declarations; all of a host probe's fields when undocumented."""
        if doc is not None and doc.args:
            return list(doc.args)
        declared = await self._host.fields(name) if self._host is not None else None  # type: ignore[union-attr]
        if declared is None:
            return list(doc.fields) if doc else []
        if doc is None or not doc.fields:
            return [decl for field, decl in declared.items() if field != "__syscall_nr"][:MAX_FIELDS]
        return [declared.get(field, field) for field in doc.fields][:MAX_FIELDS]

    def _group(self, probes: list[DiscoveredProbe]) -> list[SubsystemGroup]:
        kb = self.knowledge
        groups: dict[str, list[DiscoveredProbe]] = {}
        for probe in probes:
            doc = kb.probes.get(probe.name)
            groups.setdefault(doc.subsystem if doc else _category(probe.name), []).append(probe)
        return [
            SubsystemGroup(
                subsystem=key, title=kb.subsystems[key].title if key in kb.subsystems else key, probes=members
            )
            for key, members in groups.items()
        ]

    def _combinations(self, probes: list[DiscoveredProbe]) -> list[Combination]:
        usable = {probe.name: probe.usable_here for probe in probes}
        host = self._host
        rank = {probe.name: index for index, probe in enumerate(probes)}
        found: dict[tuple[str, ...], tuple[int, Combination]] = {}
        for probe in probes:
            for combination in self.knowledge.combinations_with(probe.name):
                if combination.probes in found:
                    continue
                all_usable = all(
                    usable.get(name, host.type_usable(name) if host and host.known else False)
                    for name in combination.probes
                )
                best = min(rank.get(name, len(rank)) for name in combination.probes)
                found[combination.probes] = (
                    best,
                    Combination(
                        probes=list(combination.probes), purpose=combination.purpose, usable_here=all_usable
                    ),
                )
        ordered = sorted(found.values(), key=lambda item: (not item[1].usable_here, item[0]))
        return [combination for _, combination in ordered[:MAX_COMBINATIONS]]

    def _notes(self, probes: list[DiscoveredProbe]) -> list[str]:
        notes = []
        if self._semantic_problem:
            notes.append(self._semantic_problem)
        if self._host is not None and self._host.problem:
            notes.append(
                f"host facts unavailable ({self._host.problem}): usable_here is false and exists_here null"
            )
        if any(not probe.usable_here and probe.type in ("kprobe", "kretprobe") for probe in probes):
            notes.append("kprobes do not work on this host: use the listed tracepoint alternatives")
        if not probes:
            notes.append(
                "nothing matched: try other words, a subsystem name (sched, block, tcp) or list_probes with a wildcard"
            )
        return notes


def _rescaled(similarities: list[float] | None) -> list[float]:
    """Cosine similarities mapped to 0..1: the floor (unrelated) to 0, the best document of this goal to 1."""
    if not similarities:
        return []
    top = max(similarities)
    if top <= SEMANTIC_FLOOR:
        return [0.0] * len(similarities)
    return [max(0.0, value - SEMANTIC_FLOOR) / (top - SEMANTIC_FLOOR) for value in similarities]


def _why(candidate: Candidate, goal: str) -> str:
    doc = candidate.doc
    reasons = []
    if candidate.matched:
        reasons.append("matches " + ", ".join(f"'{term}'" for term in candidate.matched[:5]))
    if candidate.similarity is not None and candidate.similarity > SEMANTIC_FLOOR:
        reasons.append(f"close in meaning ({candidate.similarity:.2f})")
    if doc is not None:
        goal_terms = set(lexical.terms(goal))
        question = max(doc.questions, key=lambda q: len(goal_terms & set(lexical.terms(q))))
        reasons.append(f"answers: {question}")
    elif not candidate.matched:
        reasons.append("named in the goal")
    return "; ".join(reasons)


def _category(name: str) -> str:
    """Undocumented probes group under their tracepoint category (or probe type)."""
    parts = name.split(":")
    return parts[1] if parts[0] == "tracepoint" and len(parts) > 2 else parts[0]
