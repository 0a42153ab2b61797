"""The semantic half of ranking: one vector per text in usearch, cached on disk, per collection.

A collection is one list of texts that is ranked together: the capabilities of the search index, the
probe documentation of discover_probes. The cache key is a hash of the embedder's model id and of
every embedded text, so installing, removing or editing a pack (or a new model) makes a new key and
the collection is rebuilt by itself; an unchanged collection loads in milliseconds instead of being
embedded again. Which embedder
ranks by meaning is ``Services.embedder``'s choice.

usearch is pinned to <= 2.26.1 in pyproject: 2.26.2 to 2.26.6 crash the process when usearch is
imported before onnxruntime, and a third-party plugin could import either first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from mcptrace_core.interfaces import Embedder
from mcptrace_core.logging import get_logger

if TYPE_CHECKING:
    import numpy as np

    from mcptrace_core.services import Services

log = get_logger(__name__)

FORMAT = 1
"""Bump when what is stored (or how texts are made) changes, so old caches are not read."""
BATCH = 16
KEEP_CACHES = 3
EXACT_UP_TO = 20_000
"""Up to this many vectors exact search is as fast as HNSW and never misses (benchmarks/search_speed.py)."""

LOG_EVERY_S = 2.0
"""While embedding, a log line at most this often."""

Progress = Callable[[int, int], Awaitable[None]]


def cache_root() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("mcptrace") / "search"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(model_id: str, text_hashes: Sequence[str]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\nmodel {model_id}\n".encode())
    for text in text_hashes:
        digest.update(text.encode("ascii"))
    return digest.hexdigest()[:32]


@dataclass
class VectorIndex:
    """Vectors of rows 0..n-1 (the capabilities in index order) and the model that made them."""

    index: Any  # usearch.index.Index
    model_id: str
    key: str
    loaded_from_cache: bool
    embedded: int
    """Texts embedded to make this index; the others were loaded from this or an earlier cache."""

    def __len__(self) -> int:
        return len(self.index)

    def similar(self, vector: np.ndarray, count: int) -> dict[int, float]:
        """Cosine similarity of the ``count`` nearest rows (all rows while the index is small)."""
        count = min(count, len(self.index))
        if count <= 0:
            return {}
        matches = self.index.search(vector, count, exact=len(self.index) <= EXACT_UP_TO)
        return {
            int(key): 1.0 - float(distance)
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        }

    def all(self) -> np.ndarray:
        """Every row's vector, in row order (rows x dimensions)."""
        return self.index.get(list(range(len(self.index))))


async def load_or_build(
    embedder: Embedder,
    texts: Sequence[str],
    progress: Progress | None = None,
    rebuild: bool = False,
    collection: str = "capabilities",
) -> VectorIndex:
    """The cached index for these texts of ``collection``, or a new one.

    A new index reuses the vectors of unchanged texts from the collection's latest cache of the same
    model and those the embedder ships (``Embedder.shipped_vectors``: the shipped packs' texts), so a
    fresh install embeds only what this host adds and editing one example embeds one text; only new
    texts are embedded, in batches, with ``progress(done, to_embed)`` after each. ``rebuild`` embeds
    every text again.
    """
    model_id = embedder.model_id
    hashes = [text_hash(text) for text in texts]
    key = cache_key(model_id, hashes)
    root = cache_root() / _safe(collection)
    folder = root / f"{_safe(embedder.name)}-{key}"
    if not rebuild:
        index = await anyio.to_thread.run_sync(_load, folder, embedder.dimensions, hashes)
        if index is not None:
            return VectorIndex(index, model_id, key, loaded_from_cache=True, embedded=0)
    known: dict[str, Any] = {}
    if not rebuild:
        known = {**await anyio.to_thread.run_sync(embedder.shipped_vectors),
                 **await anyio.to_thread.run_sync(_latest_vectors, root, embedder, model_id)}
    index = _new_index(embedder.dimensions)
    reused = [row for row, digest in enumerate(hashes) if digest in known]
    if reused:
        import numpy

        index.add(reused, numpy.stack([known[hashes[row]] for row in reused]))
    # Texts of alike length share a batch, so little of each batch is padding (it halves the work here).
    missing = sorted(
        (row for row, digest in enumerate(hashes) if digest not in known), key=lambda row: len(texts[row])
    )
    if missing:
        log.info("embedding", collection=collection, texts=len(missing), reused=len(reused))
    if progress is not None:
        await progress(0, len(missing))
    said = time.monotonic()
    for start in range(0, len(missing), BATCH):
        rows = missing[start : start + BATCH]
        vectors = await anyio.to_thread.run_sync(embedder.embed, [texts[row] for row in rows])
        _check(vectors, len(rows), embedder)
        index.add(rows, vectors)
        if time.monotonic() - said >= LOG_EVERY_S:  # a log line now and then: a server has no progress bar
            said = time.monotonic()
            log.info("embedding", collection=collection, done=start + len(rows), texts=len(missing))
        if progress is not None:
            await progress(start + len(rows), len(missing))
    await anyio.to_thread.run_sync(_save, index, folder, model_id, hashes)
    return VectorIndex(index, model_id, key, loaded_from_cache=False, embedded=len(missing))


def _new_index(dimensions: int) -> Any:
    from usearch.index import Index

    # Inner product on L2-normalised vectors is the cosine; expansion_search 256 keeps HNSW's recall
    # high should the index grow past EXACT_UP_TO.
    return Index(ndim=dimensions, metric="ip", dtype="f32", expansion_search=256)


def _check(vectors: Any, rows: int, embedder: Embedder) -> None:
    shape = getattr(vectors, "shape", None)
    if shape != (rows, embedder.dimensions):
        raise ValueError(
            f"embedder {embedder.name!r} returned shape {shape} for {rows} texts; "
            f"expected ({rows}, {embedder.dimensions})"
        )


def _load(folder: Path, dimensions: int, hashes: Sequence[str] | None = None) -> Any | None:
    """The index saved in ``folder`` (for exactly these text hashes, when given); None when unusable."""
    meta = _meta(folder)
    if meta is None or (hashes is not None and meta.get("text_hashes") != list(hashes)):
        return None
    index = _new_index(dimensions)
    try:
        index.load(str(folder / "vectors.usearch"))
    except (OSError, RuntimeError, ValueError) as error:
        log.warning("search cache unreadable, rebuilding", folder=str(folder), error=str(error))
        return None
    if len(index) != len(meta["text_hashes"]):
        return None
    os.utime(folder)  # the most recently used caches are the ones kept
    return index


def _meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(meta, dict)
        or meta.get("format") != FORMAT
        or not isinstance(meta.get("text_hashes"), list)
    ):
        return None
    return meta


def _latest_vectors(root: Path, embedder: Embedder, model_id: str) -> dict[str, np.ndarray]:
    """Vectors by text hash from the collection's most recently used cache made by the same model, if any."""
    if not root.is_dir():
        return {}
    folders = [path for path in root.glob(f"{_safe(embedder.name)}-*") if path.is_dir()]
    for folder in sorted(folders, key=lambda path: path.stat().st_mtime, reverse=True):
        meta = _meta(folder)
        if meta is None or meta.get("model_id") != model_id:
            continue
        index = _load(folder, embedder.dimensions)
        if index is None:
            continue
        hashes = meta["text_hashes"]
        vectors = index.get(list(range(len(hashes))))
        return {digest: vectors[row] for row, digest in enumerate(hashes)}
    return {}


def _save(index: Any, folder: Path, model_id: str, hashes: Sequence[str]) -> None:
    """Write the cache atomically (a reader sees the old state or the whole new one), then prune old ones."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
        index.save(str(staging / "vectors.usearch"))
        meta = {"format": FORMAT, "model_id": model_id, "text_hashes": list(hashes)}
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OSError as error:
        log.warning(
            "search cache not written; the index lives in memory only", folder=str(folder), error=str(error)
        )
        return
    _prune(folder.parent, keep=folder)


def _prune(root: Path, keep: Path) -> None:
    caches = [
        path for path in root.iterdir() if path.is_dir() and path != keep and not path.name.startswith(".")
    ]
    caches.sort(key=lambda path: path.stat().st_mtime)
    for stale in caches[: max(0, len(caches) - (KEEP_CACHES - 1))]:
        shutil.rmtree(stale, ignore_errors=True)


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)
