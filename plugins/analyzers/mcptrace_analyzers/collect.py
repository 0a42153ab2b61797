"""Group map printouts into snapshots, so that maps printed on an interval become time series.

bpftrace prints a map each time print() runs and once more at exit; BCC tools print a histogram or a
table each interval. A new snapshot starts when a key of a map already printed in the current snapshot
comes again (or, in JSON, the whole map), or when a time stamp line announces the next interval. The latest printout of
each map is the map's value, as get_result reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcptrace_core.analysis import Snapshot
from mcptrace_core.models import MapEntry, TraceMap


@dataclass
class _Printout:
    kind: str
    entries: list[MapEntry] = field(default_factory=list)
    keys: set[str | None] = field(default_factory=set)


@dataclass
class _Group:
    label: str | None
    maps: dict[str, _Printout] = field(default_factory=dict)


class MapCollector:
    """Receives map entries in output order; hands back the final maps and the snapshots."""

    def __init__(self) -> None:
        self._groups: list[_Group] = []
        self._pending_label: str | None = None

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

    def entry(self, name: str, kind: str, entry: MapEntry) -> None:
        """One entry; a key the current snapshot already has for this map starts the next snapshot."""
        if not self._groups:
            self.begin_map(name)
        printout = self._groups[-1].maps.get(name)
        if printout is not None and entry.key in printout.keys:
            self.begin_map(name)
            printout = None
        if printout is None:
            printout = self._groups[-1].maps[name] = _Printout(kind)
        printout.entries.append(entry)
        printout.keys.add(entry.key)

    def result(self) -> tuple[list[TraceMap], list[Snapshot]]:
        """The latest printout of each map, and the snapshots when any map was printed twice."""
        latest: dict[str, TraceMap] = {}
        snapshots = []
        for group in self._groups:
            maps = [TraceMap(name=name, kind=p.kind, entries=p.entries) for name, p in group.maps.items()]  # type: ignore[arg-type]
            latest.update((trace_map.name, trace_map) for trace_map in maps)
            snapshots.append(Snapshot(label=group.label, maps=maps))
        while snapshots and not snapshots[-1].maps:  # a trailing time stamp with nothing after it
            snapshots.pop()
        repeated = sum(1 for snapshot in snapshots if snapshot.maps) > 1
        return list(latest.values()), snapshots if repeated else []
