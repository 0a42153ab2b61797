"""The vectors of the texts mcptrace ships (core examples, templates, MCP tools, probe documentation).

Embedding the ~290 shipped capabilities took 8-27 s on the first search after an install (and the ~590
documented probes as long again on the first discover_probes); they are
the same on every host, so they are embedded once here and shipped in ``data/shipped-vectors.npz``
with the model id that made them. Only what a host adds (its installed .bt tools, BCC tools, user
packs) is embedded on the host. Regenerate after changing a shipped text or the model:

    python -m mcptrace_embedder.shipped

tests/test_shipped_vectors.py fails while the file is stale (a shipped text without its vector).
"""

from __future__ import annotations

import functools
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

FILE = "data/shipped-vectors.npz"
HOST_PLUGINS = ("host-examples", "user-examples")
"""Plugins whose capabilities come from this host (installed tools, the user's packs), not from the wheel."""
HOST_KINDS = frozenset({"bcc_tool"})
"""Capability kinds learnt from the host (which BCC tools are installed)."""


def shipped_texts() -> list[str]:
    """The embedding texts of every capability this distribution ships and of the probe documentation that
    discover_probes ranks (both the same on every host), without duplicates."""
    from mcptrace_knowledge.knowledge import load_knowledge

    from mcptrace_core.config import load_settings
    from mcptrace_core.plugins import build_plugin_manager
    from mcptrace_core.search import capability as capabilities
    from mcptrace_core.services import Services

    settings = load_settings(Path("/nonexistent/mcptrace-shipped.toml"))
    services = Services.create(settings, build_plugin_manager([*settings.plugins.disable, *HOST_PLUGINS]))
    texts = [c.embedding_text() for c in capabilities.collect(services.registry) if c.kind not in HOST_KINDS]
    texts += [doc.search_text() for doc in load_knowledge().ordered]
    return list(dict.fromkeys(texts))


@functools.cache
def load(model_id: str) -> dict[str, Any]:
    """The shipped vectors by text hash, when they were made by ``model_id``; empty otherwise."""
    import numpy

    resource = files(__package__).joinpath(FILE)
    if not resource.is_file():
        return {}
    with resource.open("rb") as handle, numpy.load(handle, allow_pickle=False) as data:
        if str(data["model_id"]) != model_id:
            return {}
        return dict(zip((str(digest) for digest in data["hashes"]), data["vectors"].astype(numpy.float32),
                        strict=True))


def write(target: Path) -> int:
    """Embed every shipped text and write the file; returns how many texts it holds."""
    import numpy

    from mcptrace_core.search.vectors import text_hash
    from mcptrace_embedder.minilm import MiniLMEmbedder

    texts = shipped_texts()
    embedder = MiniLMEmbedder()
    vectors = embedder.embed(texts)
    order = sorted(range(len(texts)), key=lambda row: text_hash(texts[row]))
    numpy.savez_compressed(
        target, model_id=numpy.array(embedder.model_id),
        hashes=numpy.array([text_hash(texts[row]) for row in order]),
        vectors=vectors[order].astype(numpy.float32),
    )
    return len(texts)


def main() -> None:
    target = Path(__file__).resolve().parent / FILE
    count = write(target)
    print(f"{count} shipped texts embedded into {target} ({target.stat().st_size // 1024} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
