"""Vectors of run texts, for search by meaning, computed off the hot path.

Recording a run only queues its text's hash (a trigger fills ``embed_queue``). The first search with an
embedder embeds queued texts in batches, stores the vectors in the database (so they are computed once per
text and model, across restarts and processes) and keeps them in memory as one matrix; exact cosine
search over it is a single matrix-vector product. Runs of the same program share a text, hence a vector.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcptrace_core.interfaces import Embedder

from mcptrace_core.history.db import transaction
from mcptrace_core.history.records import embed_text

EMBED_BATCH = 64
MAX_EMBED_PER_SEARCH = 512
"""Texts embedded by one search at most, so a search after a bulk import stays interactive."""
MODEL_KEY = "embed_model"


class VectorIndex:
    """The vectors of one model, in memory, kept in step with the ``vectors`` table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model_id: str | None = None
        self._row_of: dict[str, int] = {}
        self._hashes: list[str] = []
        self._matrix: Any = None
        self._last_seq = 0

    def catch_up(self, conn: sqlite3.Connection, embedder: Embedder) -> int:
        """Embed queued texts (a bounded number), load new vectors; return how many texts still wait."""
        with self._lock:
            model_id = embedder.model_id
            if model_id != self._model_id:
                self._switch_model(conn, model_id)
            _embed_queued(conn, embedder, model_id)
            self._load_new(conn, model_id)
            return int(conn.execute("SELECT count(*) FROM embed_queue").fetchone()[0])

    def nearest(self, query: Any, count: int, min_similarity: float) -> list[tuple[str, float]]:
        """The ``count`` text hashes most similar to the query vector, best first."""
        import numpy as np

        with self._lock:
            size = len(self._hashes)
            if size == 0:
                return []
            # einsum, not @: BLAS would spread this one product over threads that, on a busy machine,
            # mostly wait for each other (measured: about half the wall time of a matmul here).
            similarities = np.einsum("ij,j->i", self._matrix[:size], np.asarray(query, dtype=np.float32).reshape(-1))
            hashes = self._hashes  # only ever appended to: the first `size` entries stay valid
        top = min(count, size)
        best = np.argpartition(-similarities, top - 1)[:top]
        best = best[np.argsort(-similarities[best])]
        return [(hashes[i], float(similarities[i])) for i in best if similarities[i] >= min_similarity]

    def _switch_model(self, conn: sqlite3.Connection, model_id: str) -> None:
        """Another model (or the first): vectors of other models go, every text is queued again."""
        stored = conn.execute("SELECT value FROM meta WHERE key = ?", (MODEL_KEY,)).fetchone()
        if stored is None or stored[0] != model_id:
            with transaction(conn):
                conn.execute("DELETE FROM vectors WHERE model_id != ?", (model_id,))
                conn.execute(
                    "INSERT OR IGNORE INTO embed_queue(text_hash) SELECT DISTINCT text_hash FROM runs "
                    "WHERE text_hash NOT IN (SELECT text_hash FROM vectors WHERE model_id = ?)",
                    (model_id,),
                )
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (MODEL_KEY, model_id))
        self._model_id = model_id
        self._row_of, self._hashes, self._matrix, self._last_seq = {}, [], None, 0

    def _load_new(self, conn: sqlite3.Connection, model_id: str) -> None:
        import numpy as np

        rows = conn.execute(
            # '+model_id': walk the rowids after the last one seen, not every vector of the model.
            "SELECT seq, text_hash, vector FROM vectors WHERE +model_id = ? AND seq > ? ORDER BY seq",
            (model_id, self._last_seq),
        ).fetchall()
        if not rows:
            return
        vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32).reshape(len(rows), -1)
        for (seq, text_hash_, _), vector in zip(rows, vectors, strict=True):
            row = self._row_of.get(text_hash_)
            if row is None:
                row = len(self._hashes)
                self._row_of[text_hash_] = row
                self._hashes.append(text_hash_)
                self._reserve(row + 1, vectors.shape[1])
            self._matrix[row] = vector
            self._last_seq = seq

    def _reserve(self, rows: int, dimensions: int) -> None:
        """Grow the matrix geometrically (x1.5), so loading n vectors a batch at a time costs O(n) copies."""
        import numpy as np

        if self._matrix is None or self._matrix.shape[1] != dimensions:
            self._matrix = np.zeros((max(rows, 1024), dimensions), dtype=np.float32)
        elif rows > self._matrix.shape[0]:
            grown = np.zeros((max(rows, self._matrix.shape[0] * 3 // 2), dimensions), dtype=np.float32)
            grown[: self._matrix.shape[0]] = self._matrix
            self._matrix = grown


def _embed_queued(conn: sqlite3.Connection, embedder: Embedder, model_id: str) -> None:
    queued = conn.execute(
        "SELECT q.text_hash, r.program, r.label, r.error_message, r.summary FROM embed_queue q "
        "LEFT JOIN runs r ON r.text_hash = q.text_hash GROUP BY q.text_hash LIMIT ?",
        (MAX_EMBED_PER_SEARCH,),
    ).fetchall()
    gone = [(row[0],) for row in queued if row[2] is None]  # no run has this text any more
    if gone:
        with transaction(conn):
            conn.executemany("DELETE FROM embed_queue WHERE text_hash = ?", gone)
    texts = [row for row in queued if row[2] is not None]
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        vectors = _embed(embedder, [embed_text(*row[1:]) for row in batch])
        with transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO vectors(model_id, text_hash, vector) VALUES (?, ?, ?)",
                [(model_id, row[0], vector.tobytes()) for row, vector in zip(batch, vectors, strict=True)],
            )
            conn.executemany("DELETE FROM embed_queue WHERE text_hash = ?", [(row[0],) for row in batch])


def _embed(embedder: Embedder, texts: Sequence[str]) -> Any:
    import numpy as np

    vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(f"embedder {embedder.name} returned shape {vectors.shape} for {len(texts)} texts")
    return vectors
