"""The vectors shipped for the shipped texts: fresh, made by this model, and used by a new index.

When this fails after a shipped text changed (an example, a template, a tool description), run
`python -m mcptrace_embedder.shipped` and commit data/shipped-vectors.npz.
"""

from __future__ import annotations

import numpy
import pytest

from mcptrace_core.search import vectors as vectors_module
from mcptrace_core.search.vectors import text_hash
from mcptrace_embedder import shipped
from mcptrace_embedder.minilm import MiniLMEmbedder

pytestmark = pytest.mark.anyio


def test_every_shipped_text_has_its_vector_from_this_model() -> None:
    embedder = MiniLMEmbedder()
    vectors = embedder.shipped_vectors()
    texts = shipped.shipped_texts()
    assert len(texts) > 100
    stale = [text[:80] for text in texts if text_hash(text) not in vectors]
    assert not stale, f"run `python -m mcptrace_embedder.shipped`: {len(stale)} shipped texts lack vectors: {stale[:3]}"
    assert shipped.load("another-model") == {}, "vectors of another model are never used"


def test_a_shipped_vector_is_what_the_model_makes_now() -> None:
    embedder = MiniLMEmbedder()
    texts = shipped.shipped_texts()[:3]
    fresh = embedder.embed(texts)
    stored = numpy.stack([embedder.shipped_vectors()[text_hash(text)] for text in texts])
    assert numpy.allclose((fresh * stored).sum(axis=1), 1.0, atol=1e-3)


async def test_a_new_index_embeds_only_what_was_not_shipped() -> None:
    embedder = MiniLMEmbedder()
    texts = [*shipped.shipped_texts()[:40], "A text this host adds: count the widgets a local tool frobnicates."]
    index = await vectors_module.load_or_build(embedder, texts, collection="shipped-vectors-test")
    assert not index.loaded_from_cache and index.embedded == 1
    rows = index.all()
    assert numpy.allclose(rows[0], embedder.shipped_vectors()[text_hash(texts[0])])
