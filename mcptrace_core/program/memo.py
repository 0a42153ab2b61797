"""What was read from a program before, kept on disk: reading the packs need not parse them all again.

Building the search index reads every pack, and checking each example (does ``probes`` list what the
program attaches?) parses ~300 programs: ~0.4 s of a new server's first search, for answers that change
only when a program or the parser does. Within ``remembering()``, ``remembered()`` answers from a file
keyed by the program's SHA-256 and by the source of the code that computed the answer, so an upgraded
mcptrace reads everything afresh. Only answers are stored, never errors: a program that does not parse
is parsed (and reported) every time. Outside ``remembering()`` nothing is stored and every call computes.
The answers feed pack checks and search availability only; safety rules always parse for themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from mcptrace_core.hostcache import KeyedJsonCache, cache_dir
from mcptrace_core.program.probespec import ProbeSpec

MEMO_FILE = "program-facts.json"
SOURCES = ("program", "packs")
"""The mcptrace_core packages whose code decides the facts remembered (the parser, the example
description): the memo is keyed by the contents of their files, so any change reads everything afresh."""

_active: ContextVar[_Memo | None] = ContextVar("mcptrace_program_memo", default=None)


class _Memo:
    def __init__(self, cache: KeyedJsonCache) -> None:
        self._cache = cache
        self._known: dict[str, Any] = cache.load(_code_key()) or {}
        self._used: dict[str, Any] = {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._used:
            self._used[key] = self._known[key] if key in self._known else compute()
        return self._used[key]

    def save(self) -> None:
        """Keep what this reading used, and only that: the file follows the installed packs."""
        if self._used != self._known:
            self._cache.save(_code_key(), self._used)


@contextmanager
def remembering(directory: Path | None = None) -> Iterator[None]:
    """Answer ``remembered()`` from the memo file in ``directory`` (the user cache); save it on leaving."""
    memo = _Memo(KeyedJsonCache((directory or cache_dir()) / MEMO_FILE))
    token = _active.set(memo)
    try:
        yield
    finally:
        _active.reset(token)
        memo.save()


def attach_points(source: str) -> list[ProbeSpec]:
    """``parse_program(source).attach_points``, remembered; raises ProgramSyntaxError as parsing does."""
    from mcptrace_core.program.parser import parse_program

    def parse() -> list[list[Any]]:
        return [[spec.text, spec.line, spec.col] for spec in parse_program(source).attach_points]

    remembered_points = remembered("attach_points", source, parse)
    return [ProbeSpec.parse(text, line, col) for text, line, col in remembered_points]


def remembered(kind: str, source: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a JSON value describing ``source``: lists, not tuples), from the memo when it
    holds the answer. ``kind`` names what is computed, so that two facts of one program do not collide.
    """
    memo = _active.get()
    if memo is None:
        return compute()
    return memo.get(f"{kind}:{hashlib.sha256(source.encode()).hexdigest()}", compute)


@cache
def _code_key() -> str:
    digest = hashlib.sha256()
    for package in SOURCES:
        for file in sorted(files(f"mcptrace_core.{package}").iterdir(), key=lambda entry: entry.name):
            if file.name.endswith((".py", ".lark")):
                digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
