"""Keep every printout of every map, in order, with the line it started on.

bpftrace prints a map each time print() runs and once more at exit; BCC tools print a histogram or a
table each interval; people paste several runs into one file. Each printout is its own ``ParsedMap``
(``line`` says where it began), so no count is lost or added to another printout's.

A printout of a map ends, and the next entry of the same map starts a new one, when:

- another map's entry comes in between (bpftrace prints one map at a time);
- a key repeats (two printouts with nothing in between: text has no other boundary);
- a time stamp line comes (the next interval), or, in bpftrace text, any other non-blank line
  (printf text between two print() calls), or a blank line after counts or stats; blank lines never
  end a histogram printout, since bpftrace puts them between the keys of a keyed histogram and BCC
  between its per-key histograms;
- in ``-f json``, every map event is one whole printout.

Printouts are grouped into snapshots (``Snapshot``): a new snapshot starts when a map the current
one already holds is printed again, or at a time stamp. The latest printout of each map is the map's
value, as get_result reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcptrace_core.analysis import MapKind, ParsedMap, Snapshot


@dataclass
class _Group:
    label: str | None
    line: int | None
    maps: dict[str, ParsedMap] = field(default_factory=dict)
    keys: dict[str, set[str | None]] = field(default_factory=dict)


class MapCollector:
    """Receives map entries in output order; hands back the final maps and every printout."""

    def __init__(self, text_ends_printouts: bool = True) -> None:
        self._groups: list[_Group] = []
        self._pending_label: str | None = None
        self._touched: set[str] = set()
        """Maps that got entries since the last ``take``."""
        self._open: str | None = None
        """The map whose printout is still open (its next entry continues it)."""
        self._text_ends_printouts = text_ends_printouts

    def label(self, text: str, starts_interval: bool = False, line: int | None = None) -> None:
        """A line that is not a map. A time stamp (``starts_interval``) opens the next snapshot now,
        so an interval in which nothing was counted still shows (as zeros); another line is kept as
        the label of the next snapshot, should one start."""
        self._open = None if starts_interval or self._text_ends_printouts else self._open
        if starts_interval:
            self._groups.append(_Group(text.rstrip(":").strip(), line))
            self._pending_label = None
        else:
            self._pending_label = text

    def blank(self) -> None:
        """A blank line. In bpftrace text it ends a printout of counts or stats (bpftrace puts one after
        each map at exit), never one of histograms, whose keys it separates."""
        if self._text_ends_printouts and self._open is not None and self._groups:
            printed = self._groups[-1].maps.get(self._open)
            if printed is not None and printed.kind != "hist":
                self._open = None

    def begin_map(self, name: str, kind: MapKind, line: int | None = None) -> None:
        """A whole printout of ``name`` starts (a JSON map event), even one with no entries."""
        self._start(name, kind, line)

    def entry(self, name: str, kind: MapKind, key: str | None, value: Any, line: int | None = None) -> None:
        """One entry, on output line ``line``: it continues the open printout of ``name`` or starts
        the next one (see the module docstring)."""
        group = self._groups[-1] if self._groups else None
        parsed = group.maps.get(name) if group is not None else None
        if parsed is None or self._open != name or parsed.kind != kind or key in group.keys[name]:  # type: ignore[union-attr]
            self._start(name, kind, line)
            group = self._groups[-1]
            parsed = group.maps[name]
        parsed.keys.append(key)
        parsed.values.append(value)
        group.keys[name].add(key)  # type: ignore[union-attr]
        self._touched.add(name)

    def extend(
        self, name: str, kind: MapKind, keys: list[str | None], values: list[Any], line: int | None = None
    ) -> None:
        """Consecutive entries of one map from line ``line`` on: added at once unless they need the
        one-by-one rules (a key repeats, the printout is not the open one)."""
        group = self._groups[-1] if self._groups else None
        parsed = group.maps.get(name) if group is not None else None
        distinct = set(keys)
        starts = parsed is None or self._open != name or parsed.kind != kind
        if len(distinct) != len(keys) or not (starts or group.keys[name].isdisjoint(distinct)):  # type: ignore[union-attr]
            for offset, (key, value) in enumerate(zip(keys, values)):
                self.entry(name, kind, key, value, None if line is None else line + offset)
            return
        if starts:
            self._start(name, kind, line)
            group = self._groups[-1]
            parsed = group.maps[name]
        parsed.keys.extend(keys)  # type: ignore[union-attr]
        parsed.values.extend(values)
        group.keys[name].update(distinct)  # type: ignore[union-attr]
        self._touched.add(name)

    def _start(self, name: str, kind: MapKind, line: int | None) -> None:
        """A new printout of ``name``: in the current snapshot, or the next one if that has the map."""
        group = self._groups[-1] if self._groups else None
        if group is None or name in group.maps:
            group = _Group(self._pending_label, line)
            self._groups.append(group)
            self._pending_label = None
        if group.line is None:
            group.line = line
        group.maps[name] = ParsedMap(name, kind, line=line)
        group.keys[name] = set()
        self._open = name
        self._touched.add(name)

    def take(self) -> list[ParsedMap]:
        """The latest printout of each map that got entries since the last take (whole, also what came
        before). Earlier snapshots are forgotten; the current one is kept, since it may grow."""
        latest: dict[str, ParsedMap] = {}
        for group in self._groups:
            latest.update((name, parsed) for name, parsed in group.maps.items() if name in self._touched)
        self._touched.clear()
        del self._groups[:-1]
        return [parsed for parsed in latest.values() if parsed.keys]

    def result(self) -> tuple[list[ParsedMap], list[Snapshot]]:
        """The latest printout of each map, and every snapshot in order (an interval in which nothing
        was printed included, but not a trailing one)."""
        latest: dict[str, ParsedMap] = {}
        snapshots = []
        for group in self._groups:
            latest.update(group.maps)
            snapshots.append(Snapshot(group.label, list(group.maps.values()), line=group.line))
        while snapshots and not snapshots[-1].maps:  # a trailing time stamp with nothing after it
            snapshots.pop()
        return list(latest.values()), snapshots
