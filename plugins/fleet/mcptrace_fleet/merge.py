"""Merge the maps of many hosts into one, exactly, by what each map aggregates.

bpftrace prints count(), sum(), min() and max() maps alike (a number per key), so how to merge a map
is read from the program: counts and sums add, min takes the least, max the greatest; histogram
buckets add bucket by bucket; stats() add their counts and totals and the average is total/count.
avg() alone cannot be merged exactly (it prints no count), so a fleet run turns avg() into stats()
(same argument, same map; the average is still shown) before it goes out: see ``rewrite_avg``.
A map whose merge is unknown (a plain assignment, strings) is kept per host and left out of the merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mcptrace_core.models import HistBucket, MapEntry, MapStats, TraceMap

ADDITIVE = {"count", "sum"}
MERGEABLE = ADDITIVE | {"min", "max", "hist", "lhist", "stats", "avg"}


def map_functions(program: str) -> dict[str, str]:
    """Map name -> the aggregating function assigned to it (``@x[k] = count()`` gives '@x': 'count').

    A map assigned two different functions, or also assigned plain values, gets 'mixed' (not merged).
    """
    from mcptrace_core.program import ir
    from mcptrace_core.program.parser import parse_program

    functions: dict[str, str] = {}

    def note(target: ir.Node, function: str) -> None:
        target = target.target if isinstance(target, ir.Index) else target
        if isinstance(target, ir.MapRef):
            previous = functions.get(target.name)
            functions[target.name] = function if previous in (None, function) else "mixed"

    for node in ir.walk(parse_program(program)):
        if isinstance(node, ir.Assignment):
            if node.op in ("+=", "-="):
                note(node.target, "sum")
            elif node.op == "=" and isinstance(node.value, ir.Call) and node.value.name in MERGEABLE:
                note(node.target, node.value.name)
            else:
                note(node.target, "value")
        elif isinstance(node, ir.PostfixUpdate | ir.Unary) and node.op in ("++", "--"):
            note(node.operand, "sum")
    return functions


def rewrite_avg(program: str) -> str:
    """``program`` with every ``avg(`` call assigned to a map renamed ``stats(``: the same map, but it
    prints its count and total too, so hosts merge exactly. Positions come from the parser, so text in
    strings and comments is never touched."""
    from mcptrace_core.program import ir
    from mcptrace_core.program.parser import parse_program

    spots = sorted(
        {(node.value.line, node.value.col) for node in ir.walk(parse_program(program))
         if isinstance(node, ir.Assignment) and isinstance(node.value, ir.Call) and node.value.name == "avg"},
        reverse=True,
    )
    lines = program.split("\n")
    for line, col in spots:
        text = lines[line - 1]
        if text[col - 1: col + 2] == "avg":
            lines[line - 1] = text[: col - 1] + "stats" + text[col + 2:]
    return "\n".join(lines)


def merge_maps(per_host: Mapping[str, Iterable[TraceMap]], functions: Mapping[str, str]) -> tuple[list[TraceMap], list[str]]:
    """The merged maps, and the names of maps left unmerged (with why)."""
    by_name: dict[str, list[TraceMap]] = {}
    for maps in per_host.values():
        for trace_map in maps:
            by_name.setdefault(trace_map.name, []).append(trace_map)
    merged, unmerged = [], []
    for name in sorted(by_name):
        maps = by_name[name]
        kinds = {m.kind for m in maps}
        function = functions.get(name, "value")
        if len(kinds) != 1:
            unmerged.append(f"{name}: printed as {', '.join(sorted(kinds))} on different hosts")
        elif "hist" in kinds:
            merged.append(_merge_hist(name, maps))
        elif "stats" in kinds:
            merged.append(_merge_stats(name, maps, unmerged))
        elif function in ("count", "sum", "min", "max"):
            merged.append(_merge_values(name, maps, function))
        else:
            unmerged.append(f"{name}: assigned plain values ({function}), which have no merge; see each host")
    return [m for m in merged if m is not None], unmerged


def _merge_values(name: str, maps: list[TraceMap], function: str) -> TraceMap:
    """One pass over every host's entries (300,000 for 30 hosts x 10,000 keys): the loop stays plain."""
    values: dict[str | None, int | float] = {}
    get = values.get
    numbers = (int, float)
    for trace_map in maps:
        pairs = [(entry.key, entry.value) for entry in trace_map.entries if type(entry.value) in numbers]
        if function in ADDITIVE:
            for key, value in pairs:
                values[key] = get(key, 0) + value  # type: ignore[operator]
        else:
            pick = min if function == "min" else max
            for key, value in pairs:
                previous = get(key)
                values[key] = value if previous is None else pick(previous, value)  # type: ignore[type-var]
    ordered = sorted(values.items(), key=lambda item: item[1])
    construct = MapEntry.model_construct  # the values were validated when each host's map was decoded
    return TraceMap(name=name, kind="value", entries=[construct(key=key, value=value) for key, value in ordered])


def _merge_hist(name: str, maps: list[TraceMap]) -> TraceMap:
    keyed: dict[str | None, dict[tuple[float | None, float | None], int]] = {}
    for trace_map in maps:
        for entry in trace_map.entries:
            buckets = keyed.setdefault(entry.key, {})
            for bucket in entry.buckets or ():
                span = (bucket.low, bucket.high)
                buckets[span] = buckets.get(span, 0) + bucket.count

    def order(span: tuple[float | None, float | None]) -> tuple[float, float]:
        low, high = span
        return (float("-inf") if low is None else low, float("inf") if high is None else high)

    entries = [
        MapEntry(key=key, buckets=[HistBucket(low=low, high=high, count=count)
                                   for (low, high), count in sorted(buckets.items(), key=lambda item: order(item[0]))])
        for key, buckets in keyed.items()
    ]
    return TraceMap(name=name, kind="hist", entries=entries)


def _merge_stats(name: str, maps: list[TraceMap], unmerged: list[str]) -> TraceMap | None:
    totals: dict[str | None, list[float]] = {}
    for trace_map in maps:
        for entry in trace_map.entries:
            stats = entry.stats
            if stats is None or stats.count is None or stats.total is None:
                unmerged.append(f"{name}: an average without its count cannot be merged exactly; see each host")
                return None
            count_total = totals.setdefault(entry.key, [0, 0])
            count_total[0] += stats.count
            count_total[1] += stats.total
    entries = [
        MapEntry(key=key, stats=MapStats(count=int(count), total=total,
                                         average=(total / count) if count else None))
        for key, (count, total) in sorted(totals.items(), key=lambda item: item[1][1])
    ]
    return TraceMap(name=name, kind="stats", entries=entries)
