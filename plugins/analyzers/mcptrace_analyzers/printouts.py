"""Every printout of a map: which one the numbers come from, and whether they are running totals.

A map printed several times (print() on an interval, BCC's interval output, runs pasted together) is
a series of printouts. When nothing ever falls from one printout to the next, the map was never
cleared and each printout holds everything before it (cumulative): the latest is the whole story.
When something falls or a key vanishes, the map was cleared between printouts (per-interval): each
printout is one interval, and the whole output is their sum. The latest printout is the default view;
``select`` picks another one.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from mcptrace_core.analysis import MapPrintouts, ParsedMap, ParsedOutput, PrintoutTotal, Snapshot

MAX_ITEMS = 50
FIRST_ITEMS = 10

Where = dict[str, tuple[int, int]]
"""Map name -> (the printout shown, 1-based; how many printouts the map has)."""


def by_map(snapshots: list[Snapshot]) -> dict[str, list[tuple[ParsedMap, str | None]]]:
    """Each map's printouts in output order, with the label of the snapshot each is in."""
    found: dict[str, list[tuple[ParsedMap, str | None]]] = {}
    for snapshot in snapshots:
        for printed in snapshot.maps:
            found.setdefault(printed.name, []).append((printed, snapshot.label))
    return found


def select(parsed: ParsedOutput, printout: int | None) -> tuple[list[ParsedMap], Where]:
    """The maps to report and where each stands among its printouts: the latest (``printout`` None),
    else the ``printout``-th of each map (1 = the first, -1 = the latest); a map printed fewer times
    is left out."""
    printed = by_map(parsed.snapshots)
    if printout is None:
        where = {m.name: (len(printed.get(m.name, ())) or 1,) * 2 for m in parsed.maps}
        return parsed.maps, where
    chosen, where = [], {}
    for name, items in printed.items():
        index = printout - 1 if printout > 0 else len(items) + printout
        if 0 <= index < len(items):
            chosen.append(items[index][0])
            where[name] = (index + 1, len(items))
    return chosen, where


def total(parsed: ParsedMap) -> float | None:
    """What a printout holds: a histogram's samples, stats()' count, a numeric map's sum."""
    if parsed.kind == "hist":
        return float(sum(bucket.count for buckets in parsed.values for bucket in buckets))
    if parsed.kind == "stats":
        counts = [value.count for value in parsed.values if value.count is not None]
        return float(sum(counts)) if counts else None
    try:  # numbers only (parsed values are never bools); a string or a tuple makes it fail
        return float(sum(parsed.values)) if parsed.values else None
    except TypeError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def quantities(parsed: ParsedMap) -> dict[tuple[Any, ...], float]:
    """The numbers of one printout that a running total never lowers: each bucket of each key, each
    stats() count, each numeric value."""
    found: dict[tuple[Any, ...], float] = {}
    for key, value in zip(parsed.keys, parsed.values):
        if parsed.kind == "hist":
            for bucket in value:
                found[(key, bucket.low, bucket.high)] = bucket.count
        elif parsed.kind == "stats":
            if value.count is not None:
                found[(key,)] = value.count
        elif _is_number(value):
            found[(key,)] = value
    return found


def pattern(printed: list[ParsedMap]) -> tuple[str, str]:
    """('single' | 'cumulative' | 'per_interval' | 'unchanged', the evidence in words)."""
    if len(printed) < 2:
        return "single", "printed once"
    grew = False
    for number, (before, after) in enumerate(pairwise(printed), start=2):
        old, new = quantities(before), quantities(after)
        where = f"printout {number}" + (f" (line {after.line})" if after.line is not None else "")
        for what, value in old.items():
            now = new.get(what)
            if now is None and value:
                return "per_interval", f"{_describe(after.name, what)} vanished at {where}: cleared between printouts"
            if now is not None and now < value:
                return "per_interval", (
                    f"{_describe(after.name, what)} fell from {value:g} to {now:g} at {where}: "
                    "cleared between printouts"
                )
        grew = grew or any(value > old.get(what, 0) for what, value in new.items())
    if grew:
        return "cumulative", f"no number fell across {len(printed)} printouts and some grew: running totals"
    return "unchanged", (
        f"all {len(printed)} printouts hold the same numbers: a running total that did not move, or equal "
        "intervals (no total over the output is given)"
    )


def _describe(name: str, what: tuple[Any, ...]) -> str:
    key = what[0]
    text = name if key is None else f"{name}[{key}]"
    if len(what) == 3:
        low, high = what[1], what[2]
        text += f" bucket {'...' if low is None else f'{low:g}'}..{'...' if high is None else f'{high:g}'}"
    return text


def summaries(snapshots: list[Snapshot], where: Where) -> list[MapPrintouts]:
    """Every map's printouts in brief, with the pattern and the total over the whole output."""
    found = []
    for name, items in by_map(snapshots).items():
        printed = [item[0] for item in items]
        kind, reason = pattern(printed)
        totals = [total(parsed) for parsed in printed]
        known = [value for value in totals if value is not None]
        overall = None
        if len(known) == len(totals):
            # equal printouts are a running total with nothing new, or equal intervals: no total
            overall = None if kind == "unchanged" else known[-1] if kind != "per_interval" else sum(known)
        listed = list(range(len(items)))
        if len(listed) > MAX_ITEMS:
            listed = listed[:FIRST_ITEMS] + listed[-(MAX_ITEMS - FIRST_ITEMS) :]
        found.append(
            MapPrintouts(
                map=name,
                kind=printed[-1].kind,
                printouts=len(items),
                pattern=kind,  # type: ignore[arg-type]
                reason=reason,
                total=overall,
                shown=where.get(name, (0, 0))[0],
                items=[
                    PrintoutTotal(
                        printout=index + 1,
                        line=printed[index].line,
                        label=items[index][1],
                        keys=len(printed[index].keys),
                        total=totals[index],
                    )
                    for index in listed
                ],
                omitted=len(items) - len(listed),
            )
        )
    return found
