"""Build a plugin manager: a fresh one per call, never a module-level singleton.

Plugins come from the ``mcptrace`` entry-point group (the built-ins register there too, so any of them
can be blocked or replaced). Each plugin is loaded in isolation: one that fails to import or does not
match the hookspecs is logged with its name and skipped, and everything else still loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

import pluggy

from mcptrace_core import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from mcptrace_core.logging import get_logger

log = get_logger(__name__)

PluginState = Literal["loaded", "blocked", "failed"]


@dataclass(frozen=True)
class PluginRecord:
    """What happened to one plugin at load time; `mcptrace plugins` prints these."""

    name: str
    state: PluginState
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the record of how each plugin loaded."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.records: list[PluginRecord] = []


def build_plugin_manager(
    disabled: Iterable[str] = (),
    *,
    load_entry_points: bool = True,
    plugins: Iterable[tuple[str, object]] = (),
) -> PluginManager:
    """Return a new manager with the hookspecs, the entry-point plugins and any extra plugins.

    :param disabled: plugin names to block (config ``plugins.disable`` and MCPTRACE_DISABLE_PLUGINS).
    :param load_entry_points: False for tests that want only the plugins they pass in.
    :param plugins: extra (name, plugin) pairs registered after the entry points.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    blocked = set(disabled)
    for name in sorted(blocked):
        pm.set_blocked(name)
    if load_entry_points:
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            _load_entry_point(pm, entry_point, blocked)
    for name, plugin in plugins:
        _register(pm, name, plugin, distribution=None, version=None)
    return pm


def _load_entry_point(pm: PluginManager, entry_point: EntryPoint, blocked: set[str]) -> None:
    dist = entry_point.dist
    distribution = dist.name if dist is not None else None
    version = dist.version if dist is not None else None
    if entry_point.name in blocked:
        pm.records.append(PluginRecord(entry_point.name, "blocked", distribution, version))
        log.info("plugin blocked", plugin=entry_point.name, distribution=distribution)
        return
    try:
        plugin = entry_point.load()
    except Exception as error:  # isolation boundary: any import failure of a third-party plugin
        _fail(pm, entry_point.name, distribution, version, f"import failed: {type(error).__name__}: {error}")
        return
    _register(pm, entry_point.name, plugin, distribution, version)


def _register(pm: PluginManager, name: str, plugin: object, distribution: str | None, version: str | None) -> None:
    if pm.is_blocked(name):
        pm.records.append(PluginRecord(name, "blocked", distribution, version))
        return
    try:
        pm.register(plugin, name=name)
    except Exception as error:  # pluggy.PluginValidationError or a duplicate plugin name
        _fail(pm, name, distribution, version, f"rejected: {error}")
        return
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        pm.unregister(plugin)
        _fail(pm, name, distribution, version, f"rejected: {error}")
        return
    hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
    pm.records.append(PluginRecord(name, "loaded", distribution, version, hooks))


def _fail(pm: PluginManager, name: str, distribution: str | None, version: str | None, error: str) -> None:
    pm.records.append(PluginRecord(name, "failed", distribution, version, error=error))
    log.error("plugin skipped", plugin=name, distribution=distribution, error=error)
