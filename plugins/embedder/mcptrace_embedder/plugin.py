"""Entry point of the embedder plugin (``mcptrace`` group, name ``onnx-minilm``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import Embedder

from mcptrace_embedder.minilm import MiniLMEmbedder


@hookimpl
def mcptrace_embedders() -> list[Embedder]:
    return [MiniLMEmbedder()]
