"""The search engine of one server (or CLI command): builds the index on first use, then answers queries.

The first query pays for collecting the capabilities, loading (or building) the vector cache, loading
the embedding model and reading the host's facts; later queries only embed the query and score. When
no embedder is available (disabled, or ``search.embedder = "none"``) search runs on exact terms alone
and says so.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from mcptrace_core.interfaces import Embedder
from mcptrace_core.logging import get_logger
from mcptrace_core.search import alternatives
from mcptrace_core.search import capability as capabilities_module
from mcptrace_core.search import host as host_module
from mcptrace_core.search import vectors as vectors_module
from mcptrace_core.search.capability import KINDS, Capability, CapabilityKind
from mcptrace_core.search.host import Availability, HostView
from mcptrace_core.search.lexical import LexicalIndex
from mcptrace_core.search.ranking import fuse

if TYPE_CHECKING:
    from mcptrace_core.services import Services

log = get_logger(__name__)


@dataclass(frozen=True)
class IndexInfo:
    """How the index came to be, for `mcptrace index build` and the tools' notes."""

    capabilities: int
    by_kind: dict[str, int]
    embedder: str | None
    model_id: str | None
    from_cache: bool
    embedded: int
    """Texts embedded to build it (0 when it came whole from the cache)."""
    seconds: float
    note: str | None = None


@dataclass
class Hit:
    capability: Capability
    score: float
    availability: Availability
    alternative: Capability | None = None
    """A runnable capability that does the same job, when this one cannot run here."""
    alternative_for: Capability | None = None
    """The unrunnable capability this one stands in for."""


@dataclass
class SearchIndex:
    capabilities: list[Capability]
    lexical: LexicalIndex
    vectors: vectors_module.VectorIndex | None
    embedder: Embedder | None
    host: HostView
    availability: list[Availability]
    info: IndexInfo

    @cached_property
    def example_rows(self) -> dict[tuple[str, str], int]:
        """The row of each example by (pack, id)."""
        return {(c.source, c.id): row for row, c in enumerate(self.capabilities) if c.kind == "example"}

    @cached_property
    def tags(self) -> list[frozenset[str]]:
        """Each row's tags, lower-cased, for filtering."""
        return [frozenset(tag.lower() for tag in c.tags) for c in self.capabilities]

    @cached_property
    def house_style_removed(self) -> Any:
        """Every row's vector less its source's mean (numpy, rows x dimensions)."""
        if self.vectors is None:
            raise ValueError("no vectors: semantic search is off")
        return alternatives.remove_house_style(self.vectors.all(), [c.source for c in self.capabilities])


class SearchEngine:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._index: SearchIndex | None = None
        self._lock = anyio.Lock()
        self._generation = 0
        self._index_generation = -1

    async def index(
        self, progress: vectors_module.Progress | None = None, rebuild: bool = False
    ) -> SearchIndex:
        """The index, built (or loaded from the cache) on first use; ``rebuild`` embeds everything again."""
        async with self._lock:
            if self._index is None or rebuild or self._index_generation != self._generation:
                generation = self._generation
                self._index = await self._build(progress, rebuild)
                self._index_generation = generation
            return self._index

    def invalidate(self) -> None:
        """A provider has capabilities it did not have (the BCC catalog learned its tools): the next query
        builds the index again, embedding only the texts the vector cache does not have."""
        self._generation += 1

    async def search(
        self,
        query: str,
        *,
        kinds: Collection[CapabilityKind] = KINDS,
        limit: int = 5,
        runnable_only: bool = False,
        tags: Sequence[str] = (),
    ) -> list[Hit]:
        """The best ``limit`` capabilities of the given kinds for ``query``, best first.

        An example that cannot run here for want of kprobes or kfuncs names the runnable example that
        stands in for it (its ``alternative``), which joins the results if it is not among them; results
        are in score order, the stand-in included. ``runnable_only`` is a plain filter.
        """
        index = await self.index()
        wanted_tags = {tag.lower() for tag in tags}
        rows = [
            row
            for row, capability in enumerate(index.capabilities)
            if capability.kind in kinds and (not wanted_tags or wanted_tags <= index.tags[row])
        ]
        if not rows:
            return []
        semantic = await self._semantic(index, query)
        scored = fuse(
            rows,
            semantic,
            index.lexical.bm25(query),
            index.lexical.named(query),
            [availability.runnable for availability in index.availability],
        )
        scores = dict(scored)
        hits: list[Hit] = []
        shown: set[int] = set()
        for row, score in scored:
            if len(hits) >= limit:
                break
            if row in shown or (runnable_only and not index.availability[row].runnable):
                continue
            hit = Hit(index.capabilities[row], score, index.availability[row])
            hits.append(hit)
            shown.add(row)
            alternative = alternatives.find(index, row, scores)
            if alternative is not None:
                hit.alternative = index.capabilities[alternative]
                if alternative not in shown:
                    hits.append(
                        Hit(
                            index.capabilities[alternative],
                            scores[alternative],
                            index.availability[alternative],
                            alternative_for=hit.capability,
                        )
                    )
                    shown.add(alternative)
        hits = hits[:limit]
        hits.sort(key=lambda hit: -hit.score)  # a stand-in keeps its place in the list, but by its own score
        return hits

    async def _semantic(self, index: SearchIndex, query: str) -> dict[int, float]:
        if index.vectors is None or index.embedder is None:
            return {}
        try:
            vector = (await anyio.to_thread.run_sync(index.embedder.embed, [query]))[0]
        except Exception as error:  # isolation boundary: exact terms still rank when the model fails
            log.error(
                "query embedding failed; ranking by exact terms",
                embedder=index.embedder.name,
                error=f"{type(error).__name__}: {error}",
            )
            return {}
        return index.vectors.similar(vector, len(index.vectors))

    async def _build(self, progress: vectors_module.Progress | None, rebuild: bool) -> SearchIndex:
        started = time.perf_counter()
        embedder, note = self._services.embedder()
        vectors = None
        async with anyio.create_task_group() as group:
            # Three waits that need nothing from each other start together: loading the model (native code
            # that leaves the GIL free), listing the host's probes (a bpftrace child) and reading the packs
            # (~0.5 s of Python, in a worker thread so that a server answers its client meanwhile).
            if embedder is not None:
                group.start_soon(self._load_model, embedder)
            group.start_soon(host_module.prefetch, self._services)
            capabilities = await anyio.to_thread.run_sync(capabilities_module.collect, self._services.registry)
            lexical = LexicalIndex.build(capabilities)
            hosts: list[HostView] = []
            group.start_soon(self._gather_host, [probe for c in capabilities for probe in c.probes], hosts)
            if embedder is not None:
                vectors, note = await self._vectors(embedder, capabilities, progress, rebuild)
        host = hosts[0]
        info = IndexInfo(
            capabilities=len(capabilities),
            by_kind=dict(Counter(capability.kind for capability in capabilities)),
            embedder=embedder.name if vectors else None,
            model_id=vectors.model_id if vectors else None,
            from_cache=bool(vectors and vectors.loaded_from_cache),
            embedded=vectors.embedded if vectors else 0,
            seconds=round(time.perf_counter() - started, 3),
            note=note,
        )
        log.info("search index ready", **asdict(info))
        availability = [host.availability(capability) for capability in capabilities]
        return SearchIndex(
            capabilities, lexical, vectors, embedder if vectors else None, host, availability, info
        )

    async def _gather_host(self, probes: list[str], into: list[HostView]) -> None:
        into.append(await host_module.gather(self._services, probes))

    @staticmethod
    async def _load_model(embedder: Embedder) -> None:
        """Embed a word so that the model is loaded before the first query; a failure shows in ``_vectors``."""
        try:
            await anyio.to_thread.run_sync(embedder.embed, ["load the model now"])
        except Exception:  # isolation boundary: _vectors embeds too and reports what failed
            return

    async def _vectors(
        self,
        embedder: Embedder,
        capabilities: list[Capability],
        progress: vectors_module.Progress | None,
        rebuild: bool,
    ) -> tuple[vectors_module.VectorIndex | None, str | None]:
        """The vector index, with the model loaded so that the first query does not wait; None on failure."""
        texts = [capability.embedding_text() for capability in capabilities]
        try:
            vectors = await vectors_module.load_or_build(embedder, texts, progress, rebuild)
            await anyio.to_thread.run_sync(embedder.embed, ["load the model now"])  # loaded by now: proves it runs
        except Exception as error:  # isolation boundary: a broken embedder leaves exact-term search working
            log.error(
                "semantic index failed; searching by exact terms only",
                embedder=embedder.name,
                error=f"{type(error).__name__}: {error}",
            )
            return None, f"semantic search is off: embedder {embedder.name!r} failed ({error})"
        return vectors, None
