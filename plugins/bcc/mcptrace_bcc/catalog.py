"""The catalog of BCC tools: what is installed, how each is called, and whether it runs here.

Learning a tool costs a --help run (per install: cached by path + mtime + size) and a trial run (per
boot: cached with the boot id, uid and privilege prefix). A caller that needs one tool waits for that
tool alone; listing all of them learns the missing ones side by side, ``bcc.trial_concurrency`` at a
time, and saves the result once.

A trial is a run nobody asked for, so it is never made of a tool whose bare run changes the host
(``NEVER_TRIED``) or of one the configuration denies (``bcc.deny``). Whether a run that someone asks
for may go ahead is the safety engine's decision (``guard``), not the catalog's.
"""

from __future__ import annotations

import asyncio
import os
import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError

from mcptrace_bcc import probe
from mcptrace_bcc.discovery import ToolFile, base_name, build_names, compiles_bpf, discover, kernel_headers_present
from mcptrace_bcc.manual import manual_summary
from mcptrace_bcc.reasons import classify
from mcptrace_bcc.schema import ToolSchema, Usability
from mcptrace_core.config import BccSettings
from mcptrace_core.hostcache import KeyedJsonCache, boot_id, cache_dir
from mcptrace_core.logging import get_logger

log = get_logger(__name__)

SCHEMA_VERSION = 5
TRIAL_VERSION = 4
"""Raise one when what is learned (the help and manual reading, the trial) changes: those cached facts are
then learned again."""
TRIAL_ARGUMENTS: dict[str, list[str]] = {
    # Tools that refuse to start without arguments, with the smallest arguments that make them attach.
    "fsdist": ["-t", "ext4"],
    "fsslower": ["-t", "ext4"],
    "funclatency": ["do_nanosleep"],
}
NEVER_TRIED = {
    "reset-trace": "running it resets the kernel's tracing state",
    "inject": "running it makes kernel functions fail on purpose",
}
"""Tools whose run changes the host: no trial runs them to see whether they attach."""
HEADERS_SAMPLES = ("runqlat-bpfcc", "execsnoop-bpfcc", "opensnoop-bpfcc", "biolatency-bpfcc")
"""Python tools whose trial tells whether Python tools can compile here (they need no arguments)."""
NOT_TRIED = Usability(usable=None, reason="not tried yet on this boot")

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class BccTool:
    """An installed tool and what is known about it."""

    file: ToolFile
    schema: ToolSchema
    usability: Usability

    @property
    def name(self) -> str:
        return self.file.name


class UnknownToolError(LookupError):
    """No installed tool has this name."""


class BccCatalog:
    def __init__(self, settings: BccSettings, prefix: Callable[[], list[str]]) -> None:
        """:param prefix: returns the privilege prefix (raises PrivilegeError when there is none)."""
        self.settings = settings
        self._prefix = prefix
        self._files: dict[str, ToolFile] | None = None
        self._schemas = _Store(KeyedJsonCache(cache_dir() / "bcc-schemas.json"))
        self._usability = _Store(KeyedJsonCache(cache_dir() / "bcc-usability.json"))
        self._pending: dict[tuple[str, str], asyncio.Task[object]] = {}
        self._limit = asyncio.Semaphore(settings.trial_concurrency)

    @property
    def learned(self) -> int:
        """How many facts this catalog has learned so far (it changes when something new was learned)."""
        return self._schemas.learned + self._usability.learned

    # -- lookups ---------------------------------------------------------------------------------

    def files(self) -> dict[str, ToolFile]:
        """The installed tools by name (found once per catalog; reading folders takes a few ms)."""
        if self._files is None:
            self._files = {tool.name: tool for tool in discover(self.settings.tool_dirs)}
        return self._files

    def resolve(self, name: str) -> ToolFile:
        """The tool called ``name``; a base name (execsnoop) finds the libbpf tool (execsnoop or
        execsnoop-libbpf), else the Python one (execsnoop-bpfcc)."""
        files = self.files()
        found = files.get(name) or next((files[other] for other in build_names(name) if other in files), None)
        if found is None:
            close = sorted(other for other in files if name in other or base_name(other) in name)
            hint = f"; similar: {', '.join(close[:8])}" if close else ""
            raise UnknownToolError(
                f"tool_name: no BCC tool called {name!r} is installed here{hint}. list_bcc_tools lists the "
                f"{len(files)} installed ones"
                + ("" if files else " (none: apt-get install -y libbpf-tools bpfcc-tools)")
            )
        return found

    async def tool(self, name: str) -> BccTool:
        """One tool, learning only what is not cached about it."""
        file = self.resolve(name)
        schema, usability = await self._learn(file)
        self._save()
        return BccTool(file, schema, usability)

    async def all(self, progress: Progress | None = None) -> list[BccTool]:
        """Every installed tool, learning the missing facts concurrently."""
        files = list(self.files().values())
        done = 0

        async def learn(file: ToolFile) -> tuple[ToolSchema, Usability]:
            nonlocal done
            facts = await self._learn(file)
            done += 1
            if progress is not None:
                await progress(done, len(files))
            return facts

        learned = await asyncio.gather(*(learn(file) for file in files))
        self._save()
        return [BccTool(file, schema, usability) for file, (schema, usability) in zip(files, learned, strict=True)]

    async def _learn(self, file: ToolFile) -> tuple[ToolSchema, Usability]:
        return await asyncio.gather(self.schema(file), self.usability(file))

    def _save(self) -> None:
        self._schemas.flush()
        self._usability.flush()

    def cached(self, usable_only: bool = True) -> list[BccTool]:
        """The tools the disk caches know (their schema was learned), running nothing: for the tool list
        at start-up (``usable_only``) and the search index. Meant for a catalog of its own, since it
        replaces what this one holds in memory with what is on disk.

        Usability measured on an earlier boot is used when this boot has not measured yet; a stale
        answer only decides what is listed, since a run checks again.
        """
        schemas = self._schemas.stored(self._schema_key(), stale_ok=False)
        try:
            usability = self._usability.stored(self._usability_key(), stale_ok=True)
        except Exception:  # PrivilegeError: no tool can run, so none is listed as usable
            if usable_only:
                return []
            usability = None
        known = []
        for file in self.files().values():
            status = self._never_tried(file) or (usability.get(file) if usability else None) or NOT_TRIED
            schema = schemas.get(file) if status.usable or not usable_only else None
            if schema is not None:
                known.append(BccTool(file, schema, status))
        return known

    # -- learning one fact -----------------------------------------------------------------------

    async def schema(self, file: ToolFile) -> ToolSchema:
        cached = self._schemas.get(file, self._schema_key())
        if cached is not None:
            return cached
        return await self._once("schema", file, self._read_schema)

    async def usability(self, file: ToolFile) -> Usability:
        try:
            key = self._usability_key()
        except Exception as error:  # PrivilegeError: nothing can be tried, and nothing is cached
            return Usability(usable=False, reason=str(error), needs="permission")
        untried = self._never_tried(file)
        if untried is not None:
            return untried
        cached = self._usability.get(file, key)
        if cached is not None:
            return cached
        shared = await self._shared_headers_verdict(file)
        if shared is not None:
            self._usability.put(file, shared, key)
            return shared
        return await self._once("usability", file, self._try)

    def _never_tried(self, file: ToolFile) -> Usability | None:
        names = (file.name, file.base_name)
        denied = next((p for p in self.settings.deny if any(fnmatchcase(name, p) for name in names)), None)
        if denied is not None:
            reason = f"never tried: the configuration forbids it (bcc.deny matches {denied!r})"
        elif file.base_name in NEVER_TRIED:
            reason = f"never tried: {NEVER_TRIED[file.base_name]}"
        else:
            return None
        return Usability(usable=None, reason=reason, needs="policy")

    async def _shared_headers_verdict(self, file: ToolFile) -> Usability | None:
        """Without kernel headers, one Python tool's trial stands for all that compile a BPF program.

        BCC's Python tools compile their C at run time against the running kernel's headers; when
        those are missing, trying each of the ~110 tools (a Python start and a failed compile each)
        would only repeat the same failure for half a minute of CPU.
        """
        if file.kind != "bcc-python" or kernel_headers_present() or not compiles_bpf(file):
            return None
        sample = next((self.files()[name] for name in HEADERS_SAMPLES if name in self.files()), None)
        if sample is None or sample == file:
            return None
        verdict = await self.usability(sample)
        if verdict.needs != "kernel_headers":
            return None
        return verdict.model_copy(update={
            "reason": f"{verdict.reason}; measured with {sample.name}, which stands for every Python BCC tool "
            "since they all compile against the headers"})

    async def _read_schema(self, file: ToolFile) -> ToolSchema:
        async with self._limit:
            schema = await probe.read_schema(file, self._safe_prefix())
        schema = schema.model_copy(update={"manual": manual_summary(file.base_name)})
        self._schemas.put(file, schema, self._schema_key())
        return schema

    async def _try(self, file: ToolFile) -> Usability:
        argv = probe.command_line(file, TRIAL_ARGUMENTS.get(file.base_name, []), self._prefix())
        async with self._limit:
            settle = probe.SCRIPT_SETTLE_S if file.script else probe.SETTLE_S
            outcome = await probe.trial(argv, self.settings.trial_timeout_s, settle)
        usability = classify(outcome)
        log.debug("bcc tool tried", tool=file.name, usable=usability.usable, seconds=outcome.seconds,
                 reason=usability.reason)
        self._usability.put(file, usability, self._usability_key())
        return usability

    async def _once(self, what: str, file: ToolFile, learn: Callable[[ToolFile], Awaitable[object]]) -> object:
        """Learn a fact once even when several callers ask at the same time."""
        key = (what, file.name)
        task = self._pending.get(key)
        if task is None:
            task = self._pending[key] = asyncio.ensure_future(learn(file))
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)  # type: ignore[return-value]

    # -- cache keys ------------------------------------------------------------------------------

    def _safe_prefix(self) -> list[str]:
        try:
            return self._prefix()
        except Exception:  # --help needs no privilege
            return []

    @staticmethod
    def _schema_key() -> list[object]:
        return [SCHEMA_VERSION]

    def _usability_key(self) -> list[object]:
        return [TRIAL_VERSION, boot_id(), platform.release(), os.geteuid(), self._prefix(),
                self.settings.trial_timeout_s]


class _Store:
    """Facts per tool file in one JSON document, read once and written back by ``flush``.

    Entries are validated when first asked for, so a start-up that needs a few tools pays for those.
    """

    def __init__(self, disk: KeyedJsonCache) -> None:
        self._disk = disk
        self._key: object = None
        """The key the entries in memory are valid under; None when they are stale or not loaded."""
        self._raw: dict[str, Any] = {}
        self._entries: dict[str, tuple[object, ToolSchema | Usability]] = {}
        self._dirty = False
        self.learned = 0
        """Entries put since this store was made."""

    def get(self, file: ToolFile, key: list[object] | None = None) -> Any:
        if key is not None and self._key != key:
            self._replace(self._disk.load(key), key)
        entry = self._entries.get(file.path) or self._parse(file.path)
        return entry[1] if entry is not None and entry[0] == file.fingerprint else None

    def put(self, file: ToolFile, model: ToolSchema | Usability, key: list[object]) -> None:
        self.get(file, key)  # loads what is on disk under this key first
        self._entries[file.path] = (file.fingerprint, model)
        self._dirty = True
        self.learned += 1

    def flush(self) -> None:
        if self._dirty and self._key is not None:
            data = dict(self._raw)
            data.update({
                path: {"fingerprint": fingerprint, "kind": type(model).__name__, "data": model.model_dump(mode="json")}
                for path, (fingerprint, model) in self._entries.items()
            })
            self._disk.save(self._key, data)
            self._dirty = False

    def stored(self, key: list[object], stale_ok: bool) -> _Store:
        """Load what is on disk under ``key`` (or, with ``stale_ok``, under any key, marked stale)."""
        data = self._disk.load(key)
        if data is None and stale_ok:
            self._replace(self._disk.load_stale(), None)
        else:
            self._replace(data, key)
        return self

    def _replace(self, data: Any, key: object) -> None:
        self._raw = data if isinstance(data, dict) else {}
        self._entries, self._key = {}, key

    def _parse(self, path: str) -> tuple[object, ToolSchema | Usability] | None:
        entry = self._raw.get(path)
        models: dict[str, type[ToolSchema] | type[Usability]] = {"ToolSchema": ToolSchema, "Usability": Usability}
        try:
            parsed = (entry["fingerprint"], models[entry["kind"]].model_validate(entry["data"]))
        except (KeyError, TypeError, ValidationError):
            return None  # absent, or written by another version: learned again
        self._entries[path] = parsed
        return parsed
