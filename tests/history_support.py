"""Shared by the tests/test_history*.py files: settings with a private history file, and a named fake embedder."""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings, load_settings
from mcptrace_core.interfaces import Embedder
from mcptrace_core.plugins import PluginManager, build_plugin_manager
from mcptrace_core.server import build_server
from mcptrace_core.services import Services


def history_settings(tmp_path: Path, *, embedder: str | None = None, **history: Any) -> Settings:
    """Defaults, with the history in ``tmp_path`` (and any [history] keys given); ``embedder`` names the
    embedder search uses (search.embedder), e.g. the fake one's."""
    overrides: dict[str, Any] = {"history": {"path": str(tmp_path / "history.sqlite3"), **history}}
    if embedder is not None:
        overrides["search"] = {"embedder": embedder}
    return load_settings(tmp_path / "absent.toml", overrides)


class FakeTrigramEmbedder(Embedder):
    """FAKE embedder for tests: hashed character trigrams of each word, L2-normalised.

    It knows no meaning; it only lets tests drive the vector path (lazy embedding, caching, fusion)
    deterministically, without a model. The real embedder is tested where it is registered.
    """

    name = "fake-trigram"
    dimensions = 256

    def __init__(self, version: str = "1", fail: bool = False) -> None:
        self.version = version
        self.fail = fail
        self.texts_embedded = 0

    @property
    def model_id(self) -> str:
        return f"fake-trigram-v{self.version}"

    def embed(self, texts: Sequence[str]) -> Any:
        if self.fail:
            raise RuntimeError("the fake model is broken on purpose")
        self.texts_embedded += len(texts)
        matrix = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                padded = f" {word} "
                for start in range(len(padded) - 2):
                    matrix[row, zlib.crc32(padded[start : start + 3].encode()) % self.dimensions] += 1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)


class EmbedderPlugin:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @hookimpl
    def mcptrace_embedders(self) -> list[Embedder]:
        return [self.embedder]


def plugins_with(embedder: Embedder | None) -> PluginManager:
    """The built-in runs, history, bpftrace and safety plugins (no program runs without a policy), plus
    ``embedder`` as the only embedder (if given)."""
    from mcptrace_bpftrace import plugin as bpftrace_plugin
    from mcptrace_safety import plugin as safety_plugin

    from mcptrace_core.history import tools as history_tools
    from mcptrace_core.runs import tools as runs_tools

    plugins: list[tuple[str, object]] = [
        ("runs", runs_tools), ("history", history_tools), ("bpftrace", bpftrace_plugin), ("safety", safety_plugin),
    ]
    if embedder is not None:
        plugins.append(("fake_embedder", EmbedderPlugin(embedder)))
    return build_plugin_manager(load_entry_points=False, plugins=plugins)


async def session(services: Services) -> AsyncIterator[Any]:
    """A real MCP client session (JSON-RPC over memory streams) with a server on ``services``, closed after."""
    from mcp import Client

    try:
        async with Client(build_server(services), mode="legacy") as client:
            yield client
    finally:
        await services.aclose()
