"""The semantic half of the index: one vector per capability in usearch, cached on disk.

The cache key is a hash of the embedder's model id and of every embedded text, so installing,
removing or editing a pack (or a new model) makes a new key and the index is rebuilt by itself; an
unchanged set of capabilities loads in milliseconds instead of being embedded again.

usearch is pinned to <= 2.26.1 in pyproject: 2.26.2 to 2.26.6 crash the process when usearch is
imported before onnxruntime, and a third-party plugin could import either first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from mcptrace_core.interfaces import Embedder
from mcptrace_core.logging import get_logger

if TYPE_CHECKING:
    import numpy as np

log = get_logger(__name__)

FORMAT = 1
"""Bump when what is stored (or how texts are made) changes, so old caches are not read."""
BATCH = 32
KEEP_CACHES = 3
EXACT_UP_TO = 20_000
"""Up to this many vectors brute force is as fast as HNSW and never misses (measured: benchmarks/search_speed.py)."""

Progress = Callable[[int, int], Awaitable[None]]


def cache_root() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("mcptrace") / "search"


def cache_key(model_id: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\nmodel {model_id}\n".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:32]


@dataclass
class VectorIndex:
    """Vectors of rows 0..n-1 (the capabilities in index order) and the model that made them."""

    index: Any  # usearch.index.Index
    model_id: str
    key: str
    loaded_from_cache: bool

    def __len__(self) -> int:
        return len(self.index)

    def similar(self, vector: np.ndarray, count: int) -> dict[int, float]:
        """Cosine similarity of the ``count`` nearest rows (all rows while the index is small)."""
        count = min(count, len(self.index))
        if count <= 0:
            return {}
        matches = self.index.search(vector, count, exact=len(self.index) <= EXACT_UP_TO)
        return {int(key): 1.0 - float(distance) for key, distance in zip(matches.keys, matches.distances, strict=True)}

    def vector(self, row: int) -> np.ndarray:
        return self.index.get(row)


async def load_or_build(
    embedder: Embedder, texts: Sequence[str], progress: Progress | None = None, rebuild: bool = False
) -> VectorIndex:
    """The cached index for these texts, or a new one embedded in batches (progress after each)."""
    model_id = embedder.model_id
    key = cache_key(model_id, texts)
    folder = cache_root() / f"{_safe(embedder.name)}-{key}"
    if not rebuild:
        index = await anyio.to_thread.run_sync(_load, folder, embedder.dimensions, len(texts))
        if index is not None:
            return VectorIndex(index, model_id, key, loaded_from_cache=True)
    index = _new_index(embedder.dimensions)
    done = 0
    if progress is not None:
        await progress(0, len(texts))
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        vectors = await anyio.to_thread.run_sync(embedder.embed, batch)
        _check(vectors, len(batch), embedder)
        index.add(list(range(start, start + len(batch))), vectors)
        done += len(batch)
        if progress is not None:
            await progress(done, len(texts))
    await anyio.to_thread.run_sync(_save, index, folder, model_id, len(texts))
    return VectorIndex(index, model_id, key, loaded_from_cache=False)


def _new_index(dimensions: int) -> Any:
    from usearch.index import Index

    # Inner product on L2-normalised vectors is the cosine; expansion_search 256 keeps HNSW's recall
    # high should the index grow past EXACT_UP_TO.
    return Index(ndim=dimensions, metric="ip", dtype="f32", expansion_search=256)


def _check(vectors: Any, rows: int, embedder: Embedder) -> None:
    shape = getattr(vectors, "shape", None)
    if shape != (rows, embedder.dimensions):
        raise ValueError(
            f"embedder {embedder.name!r} returned shape {shape} for {rows} texts; expected ({rows}, {embedder.dimensions})"
        )


def _load(folder: Path, dimensions: int, rows: int) -> Any | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("rows") != rows:
        return None
    index = _new_index(dimensions)
    try:
        index.load(str(folder / "vectors.usearch"))
    except (OSError, RuntimeError, ValueError) as error:
        log.warning("search cache unreadable, rebuilding", folder=str(folder), error=str(error))
        return None
    if len(index) != rows:
        return None
    os.utime(folder)  # the most recently used caches are the ones kept
    return index


def _save(index: Any, folder: Path, model_id: str, rows: int) -> None:
    """Write the cache atomically (a reader sees the old state or the whole new one), then prune old ones."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
        index.save(str(staging / "vectors.usearch"))
        meta = {"format": FORMAT, "model_id": model_id, "rows": rows}
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OSError as error:
        log.warning("search cache not written; the index lives in memory only", folder=str(folder), error=str(error))
        return
    _prune(folder.parent, keep=folder)


def _prune(root: Path, keep: Path) -> None:
    caches = [path for path in root.iterdir() if path.is_dir() and path != keep and not path.name.startswith(".")]
    caches.sort(key=lambda path: path.stat().st_mtime)
    for stale in caches[: max(0, len(caches) - (KEEP_CACHES - 1))]:
        shutil.rmtree(stale, ignore_errors=True)


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)
