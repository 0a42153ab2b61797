"""The probes bpftrace can see on this host, filtered with bpftrace's wildcard syntax and paged.

``bpftrace -l`` is the source of truth for tracepoints, kprobes (listed from available_filter_functions
only where kprobes work) and the like; the full listing is read once per process. Its 0.17 listing of
software and hardware events is broken (``software:*:``), so those come from bpftrace's documented
event names instead. uprobe and usdt filters name a binary and go to ``bpftrace -l`` each time; the
functions of one binary are kept once asked for (``bpftrace -l`` lists libc's 7,264 in 0.14 s, faster
than pyelftools' 0.1 s plus a dependency for names only). Tracepoint arguments are read from the tracefs
format files of the probes asked about; without a readable tracefs they come from one
``bpftrace -lv 'tracepoint:*'``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mcptrace_core.hostcache import KeyedJsonCache
from mcptrace_core.program.probespec import expand_type

from mcptrace_bpftrace.tracefs import TracefsReader, TracefsUnavailable, TracepointField

BINARY_TYPES = ("uprobe", "uretprobe", "usdt")
SOFTWARE_EVENTS = (
    "cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
    "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output",
)
HARDWARE_EVENTS = (
    "cpu-cycles", "instructions", "cache-references", "cache-misses", "branch-instructions",
    "branch-misses", "bus-cycles", "frontend-stalls", "backend-stalls", "ref-cycles",
)

Lister = Callable[[list[str]], Awaitable[str]]
"""Runs bpftrace with the given arguments and returns its stdout."""


@dataclass(frozen=True)
class Probe:
    name: str
    type: str
    args: tuple[str, ...] | None = None


def normalize_filter(pattern: str) -> str:
    """Expand a probe-type alias (``t:sched:*`` -> ``tracepoint:sched:*``); a bare word becomes ``*word*``."""
    pattern = pattern.strip() or "*"
    if ":" not in pattern and "*" not in pattern:
        return f"*{pattern}*"
    return expand_type(pattern)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """bpftrace's wildcard: ``*`` matches any run of characters (':' included); the rest is literal."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def probe_type(name: str) -> str:
    return name.split(":", 1)[0]


def parse_listing(text: str) -> list[str]:
    """Names from ``bpftrace -l``, without 0.17's placeholder lines such as ``software:*:``."""
    return [line.strip() for line in text.splitlines() if line.strip() and ":*:" not in line and not line.startswith(" ")]


def parse_verbose_listing(text: str) -> dict[str, tuple[str, ...]]:
    """``bpftrace -lv`` output: a probe name, then its arguments indented by four spaces."""
    args: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            if current is not None:
                current.append(line.strip())
        else:
            current = args.setdefault(line.strip(), [])
    return {name: tuple(values) for name, values in args.items()}


class ProbeCatalog:
    """Every listable probe, read lazily and kept for the life of the process."""

    def __init__(self, lister: Lister, tracefs: TracefsReader, functions: FunctionListings | None = None) -> None:
        self._lister = lister
        self._tracefs = tracefs
        self._listings = functions
        self._names: list[str] | None = None
        self._tracepoint_args: dict[str, tuple[str, ...]] | None = None
        self._binaries: dict[str, frozenset[str]] = {}
        self._lock = asyncio.Lock()

    async def names(self) -> list[str]:
        async with self._lock:
            if self._names is None:
                listed = parse_listing(await self._lister(["-l"]))
                events = [f"software:{event}:" for event in SOFTWARE_EVENTS]
                events += [f"hardware:{event}:" for event in HARDWARE_EVENTS]
                self._names = sorted(set(listed) | set(events))
            return self._names

    async def tracepoint_args(self) -> dict[str, tuple[str, ...]]:
        """The arguments of every tracepoint, from one ``bpftrace -lv`` (the fallback without tracefs)."""
        async with self._lock:
            if self._tracepoint_args is None:
                self._tracepoint_args = parse_verbose_listing(await self._lister(["-lv", "tracepoint:*"]))
            return self._tracepoint_args

    async def tracepoint_fields(self, name: str) -> tuple[TracepointField, ...] | None:
        """The fields of one tracepoint (``tracepoint:cat:name``); None when it does not exist here."""
        name = name if name.startswith("tracepoint:") else f"tracepoint:{name}"
        try:
            return self._tracefs.fields(name)
        except TracefsUnavailable:
            args = (await self.tracepoint_args()).get(name)
        if args is None:
            return None
        return tuple(field for field in map(TracepointField.from_decl, args) if field is not None)

    async def binary_functions(self, target: str) -> frozenset[str]:
        """Functions a uprobe can attach to in ``target`` (a path, or a library name such as ``libc``).

        Empty when the target is missing or has no symbols. Kept per target for the life of the process,
        and on disk (``FunctionListings``) while the target is the same file.
        """
        if target not in self._binaries:
            functions = self._listings.load(target) if self._listings else None
            if functions is None:
                try:
                    listing = parse_listing(await self._lister(["-l", f"uprobe:{target}:*"]))
                except ValueError:  # bpftrace failed: no such binary or library
                    listing = []
                functions = frozenset(name.rsplit(":", 1)[-1] for name in listing)
                if self._listings and functions:
                    self._listings.save(target, functions)
            self._binaries[target] = functions
        return self._binaries[target]

    async def _args_of(self, names: list[str]) -> dict[str, tuple[str, ...]]:
        """Arguments of these tracepoints: their format files, else the full ``bpftrace -lv`` listing."""
        try:
            found = {name: self._tracefs.fields(name) for name in names if name.startswith("tracepoint:")}
        except TracefsUnavailable:
            return await self.tracepoint_args()
        return {name: tuple(field.decl for field in fields) for name, fields in found.items() if fields is not None}

    async def search(self, pattern: str, with_args: bool) -> list[Probe]:
        """Every probe matching ``pattern`` (already normalized), in name order."""
        if probe_type(pattern) in BINARY_TYPES:
            if with_args:
                found = parse_verbose_listing(await self._lister(["-lv", pattern]))
                return [Probe(name, probe_type(name), args) for name, args in sorted(found.items())]
            return [Probe(name, probe_type(name)) for name in sorted(parse_listing(await self._lister(["-l", pattern])))]
        regex = wildcard_regex(pattern)
        matches = [name for name in await self.names() if regex.match(name)]
        args = await self._args_of(matches) if with_args else {}
        return [
            Probe(name, probe_type(name), args.get(name) if with_args and name.startswith("tracepoint:") else None)
            for name in matches
        ]


class FunctionListings:
    """The functions of each uprobe target as bpftrace listed them, kept on disk while nothing changed.

    A new server checks the uprobe examples against their binaries before its first search can answer
    (~0.1 s of ``bpftrace -l`` per binary, several binaries); the answer changes only when the binary is
    replaced, so it is kept under the file's identity (device, inode, size, modification time), with the
    library cache's for a library named without a path, and the identity of the bpftrace that listed it.
    """

    LIBRARY_CACHE = "/etc/ld.so.cache"

    def __init__(self, directory: Path, lister_identity: Callable[[], object]) -> None:
        self._directory = directory
        self._lister_identity = lister_identity

    def load(self, target: str) -> frozenset[str] | None:
        key = self._key(target)
        stored = self._cache(target).load(key) if key is not None else None
        return frozenset(stored) if isinstance(stored, list) else None

    def save(self, target: str, functions: frozenset[str]) -> None:
        key = self._key(target)
        if key is not None:
            self._cache(target).save(key, sorted(functions))

    def _cache(self, target: str) -> KeyedJsonCache:
        return KeyedJsonCache(self._directory / f"{hashlib.sha256(target.encode()).hexdigest()[:32]}.json")

    def _key(self, target: str) -> list[object] | None:
        """What the listing depends on; None when the target cannot be identified (then nothing is kept)."""
        try:
            identity = os.stat(target if target.startswith("/") else self.LIBRARY_CACHE)
            lister = self._lister_identity()
        except Exception:  # no such file, no bpftrace: list it afresh each time, as before
            return None
        return [target, identity.st_dev, identity.st_ino, identity.st_size, identity.st_mtime_ns, lister]
