"""The services a server (or a CLI command) shares: settings, plugins, registry, runs and their history."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mcptrace_core.config import Settings
from mcptrace_core.history.store import HistoryStore
from mcptrace_core.interfaces import Backend, Embedder
from mcptrace_core.plugins import PluginManager, build_plugin_manager
from mcptrace_core.registry import Registry, build_registry
from mcptrace_core.runs.guard import current_guard
from mcptrace_core.runs.manager import RunManager
from mcptrace_core.sources import ProgramSources
from mcptrace_core.tools import ToolError

if TYPE_CHECKING:
    from mcptrace_core.search.engine import SearchEngine


def make_files_private(settings: Settings) -> None:
    """Tighten what an older mcptrace left open: the audit log (programs asked for) and the cache folder
    (the history database tightens itself when opened)."""
    from mcptrace_core.hostcache import cache_dir
    from mcptrace_core.private import private_dir, private_file

    private_file(settings.safety.audit_path())
    private_dir(cache_dir())


@dataclass
class Services:
    settings: Settings
    plugins: PluginManager
    registry: Registry
    runs: RunManager
    history: HistoryStore

    @classmethod
    def create(cls, settings: Settings, plugins: PluginManager | None = None) -> Services:
        """Load the plugins (unless a manager is given, as tests do) and collect their contributions.

        The history store is opened here (recovering runs a crashed server left behind) and records
        every run the run manager starts.
        """
        make_files_private(settings)
        pm = plugins if plugins is not None else build_plugin_manager(settings.plugins.disable)
        runs = RunManager(settings.runs)
        history = HistoryStore.open(settings.history)
        runs.add_listener(history)
        current_guard().add_listener(history)  # child groups are recorded, so a crash can be swept later
        registry = build_registry(pm, settings)
        for watcher in registry.run_watchers:
            runs.add_watcher(watcher)
        return cls(settings, pm, registry, runs, history)

    def backend(self, name: str) -> Any:
        """The backend called ``name``; a ToolError that says how to get it when it is not loaded."""
        backend = self.registry.get("backend", name)
        if not isinstance(backend, Backend):
            loaded = ", ".join(b.name for b in self.registry.backends) or "none"
            raise ToolError(
                f"the {name} backend is not loaded (loaded backends: {loaded}); "
                f"check `mcptrace plugins` and plugins.disable in the config"
            )
        return backend

    def embedder(self) -> tuple[Embedder | None, str | None]:
        """The embedder that gives search its sense of meaning (``search.embedder``, by name), or None and why.

        search_examples, find_capabilities and search_history all use this one, so one setting turns
        meaning on or off everywhere.
        """
        wanted = self.settings.search.embedder
        if wanted == "none":
            return None, "semantic search is off (search.embedder = 'none'): ranking by exact terms only"
        embedder = self.registry.get("embedder", wanted)
        if isinstance(embedder, Embedder):
            return embedder, None
        loaded = ", ".join(e.name for e in self.registry.embedders) or "none"
        return None, (
            f"semantic search is off: embedder {wanted!r} is not loaded (loaded: {loaded}); "
            "set search.embedder or check `mcptrace plugins`"
        )

    @cached_property
    def sources(self) -> ProgramSources:
        """Which example or template a program came from (for the history); packs are read on first use."""
        return ProgramSources(self.registry)

    @cached_property
    def search(self) -> SearchEngine:
        """The search engine of these services; its index is built on the first query."""
        from mcptrace_core.search.engine import SearchEngine

        return SearchEngine(self)

    async def aclose(self) -> None:
        """Stop every run and write the history; called when the server or command ends."""
        import anyio

        await self.runs.shutdown()
        current_guard().remove_listener(self.history)
        for contribution in self.registry.contributions("tool_extension"):
            if contribution.item.aclose is not None:  # runs an extension keeps (fleet runs)
                await contribution.item.aclose()
        await anyio.to_thread.run_sync(self.history.close)
