"""Group map printouts into snapshots, so that maps printed on an interval become time series.

bpftrace prints a map each time print() runs and once more at exit; BCC tools print a histogram or a
table each interval. A new snapshot starts when a key of a map already printed in the current snapshot
comes again (or, in JSON, the whole map), or when a time stamp line announces the next interval. The
latest printout of each map is the map's value, as get_result reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcptrace_core.analysis import MapKind, ParsedMap, Snapshot


@dataclass
class _Group:
    label: str | None
    maps: dict[str, ParsedMap] = field(default_factory=dict)
    keys: dict[str, set[str | None]] = field(default_factory=dict)


class MapCollector:
    """Receives map entries in output order; hands back the final maps and the snapshots."""

    def __init__(self) -> None:
        self._groups: list[_Group] = []
        self._pending_label: str | None = None
        self._touched: set[str] = set()
        """Maps that got entries since the last ``take``."""

    def label(self, text: str, starts_interval: bool = False) -> None:
        """A line that is not a map. A time stamp (``starts_interval``) opens the next snapshot now,
        so an interval in which nothing was counted still shows (as zeros); another line is kept as
        the label of the next snapshot, should one start."""
        if starts_interval:
            self._groups.append(_Group(text.rstrip(":").strip()))
            self._pending_label = None
        else:
            self._pending_label = text

    def begin_map(self, name: str) -> None:
        """A whole printout of ``name`` starts (a JSON map event); if the current snapshot has the map
        already, this is the next snapshot."""
        group = self._groups[-1] if self._groups else None
        if group is None or name in group.maps:
            self._groups.append(_Group(self._pending_label))
            self._pending_label = None

    def entry(self, name: str, kind: MapKind, key: str | None, value: Any) -> None:
        """One entry; a key the current snapshot already has for this map (or another kind of value
        under the same name) starts the next snapshot."""
        if not self._groups:
            self.begin_map(name)
        group = self._groups[-1]
        parsed = group.maps.get(name)
        if parsed is not None and (key in group.keys[name] or parsed.kind != kind):
            self.begin_map(name)
            group, parsed = self._groups[-1], None
        if parsed is None:
            parsed = group.maps[name] = ParsedMap(name, kind)
            group.keys[name] = set()
        parsed.keys.append(key)
        parsed.values.append(value)
        group.keys[name].add(key)
        self._touched.add(name)

    def extend(self, name: str, kind: MapKind, keys: list[str | None], values: list[Any]) -> None:
        """Consecutive entries of one map: added at once unless a key repeats (a new snapshot)."""
        if not self._groups:
            self.begin_map(name)
        group = self._groups[-1]
        parsed = group.maps.get(name)
        distinct = set(keys)
        if len(distinct) != len(keys) or (
            parsed is not None and (parsed.kind != kind or not group.keys[name].isdisjoint(distinct))
        ):
            for key, value in zip(keys, values):
                self.entry(name, kind, key, value)
            return
        if parsed is None:
            parsed = group.maps[name] = ParsedMap(name, kind)
            group.keys[name] = set()
        parsed.keys.extend(keys)
        parsed.values.extend(values)
        group.keys[name].update(distinct)
        self._touched.add(name)

    def take(self) -> list[ParsedMap]:
        """The latest printout of each map that got entries since the last take (whole, also what came
        before). Earlier snapshots are forgotten; the current one is kept, since it may grow."""
        latest: dict[str, ParsedMap] = {}
        for group in self._groups:
            latest.update((name, parsed) for name, parsed in group.maps.items() if name in self._touched)
        self._touched.clear()
        del self._groups[:-1]
        return list(latest.values())

    def result(self) -> tuple[list[ParsedMap], list[Snapshot]]:
        """The latest printout of each map, and the snapshots when any map was printed twice."""
        latest: dict[str, ParsedMap] = {}
        snapshots = []
        for group in self._groups:
            latest.update(group.maps)
            snapshots.append(Snapshot(group.label, list(group.maps.values())))
        while snapshots and not snapshots[-1].maps:  # a trailing time stamp with nothing after it
            snapshots.pop()
        repeated = sum(1 for snapshot in snapshots if snapshot.maps) > 1
        return list(latest.values()), snapshots if repeated else []
