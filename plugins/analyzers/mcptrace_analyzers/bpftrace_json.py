"""bpftrace ``-f json`` output (NDJSON) into TraceMaps: the one decoder of its map shapes.

The bpftrace backend's run decoder (``mcptrace_bpftrace.jsonout``) and the analyzer both read maps
through ``maps_from_event``, so get_result and analyze_output always agree. Shapes, as bpftrace 0.17
prints them (one object per line, blank lines between):

- ``{"type": "map", "data": {"@m": {"key": 3}}}``; unkeyed ``{"@m": 3}``; tuples are lists; multi-part
  keys are joined with commas; stack keys are the frames separated by newlines.
- ``{"type": "hist", "data": {"@h": [{"min": 0, "max": 0, "count": 1}, ...]}}``: max is inclusive;
  the underflow bucket has no min and the overflow bucket no max; keyed: ``{"@h": {"k": [...]}}``.
- ``{"type": "stats", "data": {"@s": {"count": 4, "average": 6, "total": 24}}}``; avg() prints only
  the average: ``{"@a": 6}`` or ``{"@a": {"key": 6}}``.
- ``printf``/``time`` (text), ``value`` (print of a non-map), ``lost_events`` ({"events": N}),
  ``attached_probes``, and ``helper_error`` whose fields sit beside "type", with no "data".
"""

from __future__ import annotations

import json
import os
from typing import Any

from mcptrace_analyzers.gcpause import paused_gc
from mcptrace_analyzers.textparse import TIME_STAMP, TextParser
from mcptrace_core.analysis import ParsedMap, ParsedOutput
from mcptrace_core.models import HistBucket, MapEntry, MapStats, TraceMap

MAP_EVENTS = {"map": "value", "hist": "hist", "stats": "stats"}
TEXT_EVENTS = frozenset({"printf", "time", "cat", "syscall", "join"})
STATS_FIELDS = ("count", "average", "total")


def maps_from_event(kind: str, data: dict[str, Any]) -> list[TraceMap]:
    """The maps of one ``map``/``hist``/``stats`` event (bpftrace puts one map in each)."""
    return [_trace_map(MAP_EVENTS[kind], name, value) for name, value in data.items()]


def helper_error_text(event: dict[str, Any]) -> str:
    """'map_update_elem: Argument list too long (-7)', as bpftrace's text output words it."""
    code = event.get("retcode")
    reason = os.strerror(-code) if isinstance(code, int) and code < 0 else "failed"
    where = f" at line {event['line']} col {event.get('col')}" if event.get("line") is not None else ""
    return f"{event.get('helper', 'helper')}: {reason} ({code}){where}"


def _trace_map(kind: str, name: str, value: Any) -> TraceMap:
    keyed = isinstance(value, dict) and not (kind == "stats" and _is_stats(value))
    items = [(stack_key(key), item) for key, item in value.items()] if keyed else [(None, value)]
    return TraceMap(name=name, kind=kind, entries=[_entry(kind, key, item) for key, item in items])  # type: ignore[arg-type]


def stack_key(key: str) -> str:
    """A stack key as bpftrace 0.17 writes it: frames on their own lines, indented by 4 spaces.

    bpftrace 0.23 escapes the newlines of kstack/ustack keys once more (a literal backslash-n in the
    decoded string) and indents frames by 8 spaces; read as is, a whole stack is one long line."""
    if key == "\\n":  # a sample with no frames (a kernel stack taken in user space)
        return "\n"
    if "\n" in key or not (key.startswith("\\n ") and key.endswith("\\n")):
        return key
    parts = key.split("\\n")[1:-1]
    if not parts or not all(part[:1] in (" ", "\t") and part.strip() for part in parts):
        return key
    return "".join(f"\n    {part.strip()}" for part in parts) + "\n"


def _entry(kind: str, key: str | None, value: Any) -> MapEntry:
    if kind == "hist":
        return MapEntry(key=key, buckets=[_bucket(bucket) for bucket in value])
    if kind == "stats":
        if isinstance(value, dict):
            return MapEntry(key=key, stats=MapStats(**{name: value.get(name) for name in STATS_FIELDS}))
        return MapEntry(key=key, stats=MapStats(average=value))
    return MapEntry(key=key, value=value)


def _is_stats(value: dict[str, Any]) -> bool:
    return set(value) == set(STATS_FIELDS)


def _bucket(bucket: dict[str, Any]) -> HistBucket:
    high = bucket.get("max")
    return HistBucket(low=bucket.get("min"), high=None if high is None else high + 1, count=bucket["count"])


def parse_ndjson(text: str, kind: str = "bpftrace_json") -> ParsedOutput:
    """Parse a whole NDJSON output. Lines that are not JSON objects are read as bpftrace text."""
    with paused_gc():
        return _parse_ndjson(text, kind)


def _parse_ndjson(text: str, kind: str) -> ParsedOutput:
    parser = TextParser(kind)
    pending = ""
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        parser.skip_to(number)
        event = _event(line)
        if event is None:
            parser.feed([line])
            continue
        kind_name, data = event.get("type"), event.get("data")
        if kind_name in TEXT_EVENTS and isinstance(data, str):
            lines = (pending + data).split("\n")
            pending = lines.pop()
            if kind_name == "time" and len(lines) == 1 and TIME_STAMP.match(lines[0].strip()):
                parser.maps.label(lines[0].strip(), starts_interval=True, line=number)
            else:
                parser.feed(lines)
            continue
        if pending:
            parser.feed([pending])
            pending = ""
        _structured(parser, kind_name, data, event, number)
    if pending:
        parser.feed([pending])
    return parser.result()


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "type" in event else None


def _structured(parser: TextParser, kind: Any, data: Any, event: dict[str, Any], line: int) -> None:
    try:
        if kind in MAP_EVENTS and isinstance(data, dict):
            for trace_map in maps_from_event(kind, data):  # each event is one whole printout
                parsed = ParsedMap.from_trace_map(trace_map)
                parser.maps.begin_map(parsed.name, parsed.kind, line)
                for key, value in zip(parsed.keys, parsed.values):
                    parser.maps.entry(parsed.name, parsed.kind, key, value, line)
        elif kind == "lost_events":
            parser.lost_events += int(data.get("events", 0) if isinstance(data, dict) else data)
        elif kind == "helper_error":
            if len(parser.helper_errors) < 100:
                parser.helper_errors.append(helper_error_text(event))
        elif kind == "value":
            parser.feed([scalar_text(data)])
    except (ValueError, TypeError, KeyError, AttributeError):  # a shape this version does not know
        parser.feed([json.dumps(event, ensure_ascii=False)[:4096]])


def scalar_text(value: Any) -> str:
    """A printed value as bpftrace's text output shows it: tuples as '(1, two)'."""
    if isinstance(value, list):
        return "(" + ", ".join(scalar_text(item) for item in value) + ")"
    return str(value)
