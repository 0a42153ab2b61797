"""The search index: cached under a key of every indexed text and the model, rebuilt when a pack changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcptrace_core import hookimpl
from mcptrace_core.cli import cli
from mcptrace_core.config import load_settings
from mcptrace_core.interfaces import Embedder, ExamplePack
from mcptrace_core.search import vectors
from mcptrace_core.search.capability import collect
from mcptrace_embedder.minilm import MiniLMEmbedder
from tests.search_support import EXAMPLES, PackPlugin, SearchTestPack, make_services

pytestmark = pytest.mark.anyio


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache directory of this test's own, so no other test's index is found there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path / "cache" / "mcptrace" / "search" / "capabilities"


def _caches(cache_dir: Path) -> list[str]:
    return sorted(path.name for path in cache_dir.iterdir() if path.is_dir()) if cache_dir.exists() else []


async def test_first_build_embeds_and_the_next_process_loads_the_cache(cache_dir: Path) -> None:
    first = await make_services().search.index()
    assert not first.info.from_cache
    assert first.info.by_kind["example"] == len(EXAMPLES)
    assert first.info.by_kind["template"] == 1
    assert first.info.by_kind["bcc_tool"] >= 2
    assert first.info.by_kind["tool"] >= 8
    assert len(first.vectors) == first.info.capabilities
    assert len(_caches(cache_dir)) == 1
    second = await make_services().search.index()
    assert second.info.from_cache
    assert second.vectors.key == first.vectors.key


async def test_a_changed_pack_gets_a_new_key_and_only_the_changed_text_is_embedded(cache_dir: Path) -> None:
    first = await make_services().search.index()
    shipped = first.embedder.shipped_vectors()  # the MCP tools are shipped texts
    texts = [capability.embedding_text() for capability in first.capabilities]
    assert first.info.embedded == sum(1 for text in texts if vectors.text_hash(text) not in shipped)
    assert first.info.embedded >= len(EXAMPLES), "the test pack is not shipped: all of it is embedded"
    edited = [
        EXAMPLES[0].model_copy(update={"description": EXAMPLES[0].description + " Now also counts them."}),
        *EXAMPLES[1:],
    ]
    changed = await make_services(("search-test", PackPlugin(SearchTestPack(edited)))).search.index()
    assert not changed.info.from_cache
    assert changed.info.embedded == 1, "the other texts' vectors come from the first cache"
    assert len(_caches(cache_dir)) == 2
    services = make_services(("search-test", PackPlugin(SearchTestPack(edited))))
    assert (await services.search.search("which files are opened", kinds=("example",)))[
        0
    ].capability.id == "files.opens"
    again = await make_services().search.index()
    assert again.info.from_cache, "the first version's cache is still there"


async def test_old_caches_are_pruned(cache_dir: Path) -> None:
    for count in range(2, 2 + vectors.KEEP_CACHES + 2):
        await make_services(("search-test", PackPlugin(SearchTestPack(EXAMPLES[:count])))).search.index()
    assert len(_caches(cache_dir)) == vectors.KEEP_CACHES


async def test_the_model_id_is_part_of_the_key(cache_dir: Path) -> None:
    class OtherRevision(MiniLMEmbedder):
        @property
        def model_id(self) -> str:
            return super().model_id + ":another-revision"

    class Plugin:
        @hookimpl
        def mcptrace_embedders(self) -> list[Embedder]:
            return [OtherRevision()]

    first = await make_services().search.index()
    settings = load_settings(Path("/nonexistent.toml"), {"plugins": {"disable": ["onnx-minilm"]}})
    other = await make_services(("other-revision", Plugin()), settings=settings).search.index()
    assert not other.info.from_cache
    assert other.vectors.key != first.vectors.key
    assert other.info.model_id.endswith(":another-revision")


async def test_a_corrupt_cache_is_rebuilt(cache_dir: Path) -> None:
    first = await make_services().search.index()
    folder = next(path for path in cache_dir.iterdir() if path.is_dir())
    (folder / "vectors.usearch").write_bytes(b"not an index")
    again = await make_services().search.index()
    assert not again.info.from_cache
    assert again.vectors.key == first.vectors.key


async def test_rebuild_embeds_again_and_reports_progress(cache_dir: Path) -> None:
    services = make_services()
    await services.search.index()
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    rebuilt = await services.search.index(progress=progress, rebuild=True)
    assert not rebuilt.info.from_cache and rebuilt.info.embedded == rebuilt.info.capabilities
    total = rebuilt.info.capabilities
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_without_an_embedder_search_ranks_by_exact_terms_and_says_so(cache_dir: Path) -> None:
    settings = load_settings(Path("/nonexistent.toml"), {"search": {"embedder": "none"}})
    services = make_services(settings=settings)
    index = await services.search.index()
    assert index.vectors is None and "exact terms" in (index.info.note or "")
    hits = await services.search.search("opensnoop", kinds=("example",))
    assert hits[0].capability.id == "files.opens"
    assert not _caches(cache_dir)


async def test_a_disabled_embedder_is_named_in_the_note(cache_dir: Path) -> None:
    settings = load_settings(Path("/nonexistent.toml"), {"plugins": {"disable": ["onnx-minilm"]}})
    index = await make_services(settings=settings).search.index()
    assert index.vectors is None
    assert "'onnx-minilm' is not loaded" in (index.info.note or "")


async def test_an_embedder_that_fails_leaves_exact_term_search_working(cache_dir: Path) -> None:
    class BrokenEmbedder(Embedder):
        """Fault injection: a third-party embedder whose model cannot be loaded."""

        name = "broken"
        dimensions = 8
        model_id = "broken-1"

        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model file missing")

    class Plugin:
        @hookimpl
        def mcptrace_embedders(self) -> list[Embedder]:
            return [BrokenEmbedder()]

    settings = load_settings(Path("/nonexistent.toml"), {"search": {"embedder": "broken"}})
    services = make_services(("broken", Plugin()), settings=settings)
    index = await services.search.index()
    assert index.vectors is None and "model file missing" in (index.info.note or "")
    assert (await services.search.search("sched_switch", kinds=("example",)))[
        0
    ].capability.id == "sched.switches"


async def test_a_pack_that_raises_is_skipped_and_the_rest_is_indexed(cache_dir: Path) -> None:
    class BrokenPack(ExamplePack):
        """Fault injection: a third-party pack whose files cannot be parsed."""

        name = "broken-pack"
        description = "raises"

        def examples(self):  # type: ignore[no-untyped-def]
            raise ValueError("bad TOML in broken.toml")

    services = make_services(("broken", PackPlugin(BrokenPack())), ("search-test-2", PackPlugin()))
    capabilities = collect(services.registry)
    assert {c.source for c in capabilities if c.kind == "example"} == {"search-test"}


def test_index_build_command_prints_one_json_document_and_a_bar_on_stderr(cache_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["index", "build", "--force", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["from_cache"] is False and data["capabilities"] >= 8
    assert data["embedder"] == "onnx-minilm"
    assert "embedding" in result.stderr
    discover = data["tools"]["discover_probes"]
    assert "ranked by meaning with onnx-minilm" in discover and "embedded now" in discover
    assert "embedding for discover_probes" in result.stderr
    again = runner.invoke(cli, ["index", "build"])
    assert again.exit_code == 0 and "loaded from cache" in again.stdout
    assert "0 texts embedded now" in again.stdout, "the next process finds discover_probes' vectors cached"
