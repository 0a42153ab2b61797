"""Meaning-based ranking: the knowledge base embedded once by the registered embedder, cached on disk.

Only the documented probes are embedded (~600 texts, about a second once); the cache key is the
embedder's model id plus a hash of every text, so a new model or an edited description re-embeds by
itself, and an unchanged knowledge base loads in a few milliseconds. A query costs one embedding
(~2-3 ms with the ONNX MiniLM) and one matrix-vector product. Brute force is exact and, at this size,
faster than any index.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcptrace_core.interfaces import Embedder
from mcptrace_core.logging import get_logger

if TYPE_CHECKING:
    import numpy as np

log = get_logger(__name__)

FORMAT = 1
"""Bump when the embedded texts are made differently, so old caches are not read."""
BATCH = 64


def cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("mcptrace") / "knowledge"


@dataclass
class SemanticIndex:
    embedder: Embedder
    vectors: np.ndarray
    """One L2-normalised row per document, in the knowledge index's row order."""
    from_cache: bool

    def similarities(self, query: str) -> np.ndarray:
        """Cosine similarity of the query to every document."""
        vector = self.embedder.embed([query])
        return self.vectors @ vector[0]


def cache_key(model_id: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\nmodel {model_id}\n".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:32]


def load_or_build(embedder: Embedder, texts: Sequence[str]) -> SemanticIndex:
    """The cached vectors of these texts for this embedder, or new ones (saved for next time)."""
    import numpy

    key = cache_key(embedder.model_id, texts)
    path = cache_dir() / f"{_safe(embedder.name)}-{key}.npy"
    try:
        vectors = numpy.load(path)
        if vectors.shape == (len(texts), embedder.dimensions):
            return SemanticIndex(embedder, vectors, from_cache=True)
    except (OSError, ValueError):
        pass
    parts = [embedder.embed(list(texts[start : start + BATCH])) for start in range(0, len(texts), BATCH)]
    vectors = (
        numpy.vstack(parts).astype(numpy.float32)
        if parts
        else numpy.zeros((0, embedder.dimensions), numpy.float32)
    )
    if vectors.shape != (len(texts), embedder.dimensions):
        raise ValueError(
            f"embedder {embedder.name!r} returned shape {vectors.shape}, expected {(len(texts), embedder.dimensions)}"
        )
    _save(path, vectors)
    return SemanticIndex(embedder, vectors, from_cache=False)


def _save(path: Path, vectors: Any) -> None:
    """Write atomically and drop this embedder's older caches; a failure only costs re-embedding next time."""
    import numpy

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".building-", suffix=".npy", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            numpy.save(stream, vectors)
        os.replace(temporary, path)
        prefix = path.name.rsplit("-", 1)[0] + "-"
        for stale in path.parent.glob(f"{prefix}*.npy"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as error:
        log.warning("knowledge vectors not cached", path=str(path), error=str(error))


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)
