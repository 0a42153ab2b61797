"""Host awareness: can a capability run HERE, and if not, what is missing.

A capability is runnable when every probe type and kernel feature it requires is usable here (as the
backend measured it, not as ``bpftrace --info`` claims) and every probe it attaches exists: a listed
probe is looked up in the host's probe catalog (a wildcard needs at least one match), a uprobe's
binary or library must be found. Nothing is run to decide it; the facts are gathered once.
"""

from __future__ import annotations

import ctypes.util
import glob
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from mcptrace_core.logging import get_logger
from mcptrace_core.search import probes as probe_specs

if TYPE_CHECKING:
    from mcptrace_core.search.capability import Capability
    from mcptrace_core.services import Services

log = get_logger(__name__)

LISTED_TYPES = frozenset({"tracepoint", "kprobe", "kfunc", "rawtracepoint"})
"""Probe types whose every probe the host lists; others are checked by type (and target binary)."""
BINARY_TYPES = frozenset({"uprobe", "usdt"})
BACKEND = "bpftrace"


@dataclass(frozen=True)
class Availability:
    runnable: bool
    missing: tuple[str, ...] = ()
    """What this host lacks, in words: 'probe type kprobe', 'probe tracepoint:x:y', 'binary /x', 'feature btf'."""
    absent: tuple[str, ...] = ()
    """The probes among them that do not exist here (or whose binary does not), as the capability writes
    them: bpftrace cannot even compile a program that attaches one."""


@dataclass
class HostView:
    """What this host offers, gathered once: usable probe types, existing probes, kernel features."""

    usable_types: frozenset[str]
    probe_names: frozenset[str]
    features: dict[str, bool]
    absent_functions: frozenset[str] = frozenset()
    """uprobe specs whose binary lacks the function (bpftrace would silently drop the probe)."""
    problem: str | None = None
    """Why nothing is known about this host (no bpftrace, no privilege); then it is what is missing."""
    _by_type: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def unknown(cls, problem: str) -> HostView:
        return cls(frozenset(), frozenset(), {}, problem=problem)

    def availability(self, capability: Capability) -> Availability:
        """Whether the capability can run here, and what this host lacks for it.

        This is the one answer to "can this run here" (search, find_capabilities, list_templates and the
        on-host example tests all ask it).
        """
        missing = dict.fromkeys(capability.missing)  # an ordered set
        if not capability.probes and not capability.requires:
            return Availability(not missing, tuple(missing))
        if self.problem is not None:
            return Availability(False, (*missing, f"{BACKEND} ({self.problem})"))
        for requirement in capability.requires:
            problem = self._requirement(requirement)
            if problem:
                missing[problem] = None
        absent = []
        for spec in capability.probes:
            problem = self._probe(spec)
            if problem:
                missing[problem] = None
                if not problem.startswith("probe type "):
                    absent.append(spec)
        return Availability(not missing, tuple(missing), tuple(absent))

    def _requirement(self, requirement: str) -> str | None:
        if requirement in self.features:
            return None if self.features[requirement] else f"feature {requirement}"
        kind = probe_specs.FAMILY.get(requirement, requirement)
        return None if kind in self.usable_types else f"probe type {kind}"

    def _probe(self, spec: str) -> str | None:
        spec = probe_specs.family(spec)
        kind = probe_specs.probe_type(spec)
        if kind not in self.usable_types:
            return f"probe type {kind}"
        if kind in LISTED_TYPES:
            return None if self._exists(kind, spec) else f"probe {spec}"
        if kind in BINARY_TYPES:
            target = spec.split(":")[1] if spec.count(":") >= 2 else ""
            if not target or not _binary_exists(target):
                return f"binary {target or '(none named)'}"
            return f"probe {spec}" if spec in self.absent_functions else None
        return None

    def _exists(self, kind: str, spec: str) -> bool:
        if not probe_specs.is_wildcard(spec):
            return spec in self.probe_names
        names = self._by_type.get(kind)
        if names is None:
            names = self._by_type[kind] = [name for name in self.probe_names if name.startswith(kind + ":")]
        regex = probe_specs.wildcard_regex(spec)
        return any(regex.fullmatch(name) for name in names)


async def _facts(services: Services) -> tuple[Any, dict[str, Any], list[str]]:
    """The backend, its measured probe types and its probe names (the backend keeps both once asked)."""
    backend = services.backend(BACKEND)
    return backend, await backend.probe_types(), await backend.catalog.names()


async def prefetch(services: Services) -> None:
    """Start measuring what ``gather`` needs before the probes to look up are known; a failure is left
    for ``gather`` to report."""
    try:
        await _facts(services)
    except Exception:  # isolation boundary: gather asks again and says what is missing
        return


async def gather(services: Services, probes: Iterable[str] = ()) -> HostView:
    """The host facts from the bpftrace backend; a view that says why when they cannot be had.

    :param probes: the probes the capabilities attach; their uprobes are looked up in their binaries
        (bpftrace would run a program whose uprobe function is missing without that probe).
    """
    try:
        backend, measured, names = await _facts(services)
    except Exception as error:  # no backend, no bpftrace, no privilege: search still answers, marked
        log.info("host facts unavailable for search", error=str(error))
        return HostView.unknown(str(error).split("\n", 1)[0][:200])
    usable = frozenset(name for name, status in measured.items() if status.usable)
    view = HostView(usable, frozenset(_expanded(names)), kernel_features())
    if "uprobe" in usable:
        view.absent_functions = await _absent_functions(backend, probes)
    return view


async def _absent_functions(backend: Any, probes: Iterable[str]) -> frozenset[str]:
    """The uprobe specs (entry form) whose binary exists but has no such function.

    Each binary is listed once per process (the catalog keeps its functions; ~0.1 s each), all at once.
    A binary whose listing comes back empty (stripped, or the listing failed) leaves its probes' fate to
    the run.
    """
    specs = {
        probe_specs.family(spec) for spec in probes if probe_specs.probe_type(spec) in ("uprobe", "uretprobe")
    }
    specs = {spec for spec in specs if spec.count(":") == 2 and _binary_exists(spec.split(":")[1])}
    functions: dict[str, frozenset[str]] = {}

    async def list_functions(target: str) -> None:
        try:
            listed = await backend.catalog.binary_functions(target)
        except Exception as error:  # a listing that fails leaves the probes' fate to the run
            log.info("uprobe listing failed", target=target, error=str(error)[:200])
            return
        if listed:
            functions[target] = frozenset(name.split("@", 1)[0] for name in listed)  # malloc@@GLIBC_2.2.5

    async with anyio.create_task_group() as group:
        for target in sorted({spec.split(":")[1] for spec in specs}):
            group.start_soon(list_functions, target)
    absent = set()
    for spec in specs:
        _, target, function = spec.split(":")
        known = functions.get(target)
        if known is None:
            continue
        regex = probe_specs.wildcard_regex(function) if probe_specs.is_wildcard(function) else None
        if function not in known and not (regex and any(regex.fullmatch(name) for name in known)):
            absent.add(spec)
    return frozenset(absent)


def kernel_features() -> dict[str, bool]:
    release = platform.release()
    return {
        "btf": Path("/sys/kernel/btf/vmlinux").exists(),
        "kernel_headers": Path(f"/lib/modules/{release}/build/include").is_dir(),
    }


def _expanded(names: Iterable[str]) -> Iterable[str]:
    return (probe_specs.expand(name) for name in names)


@lru_cache(maxsize=256)
def _binary_exists(target: str) -> bool:
    """An absolute path (globs allowed) that exists, or a library name the dynamic linker knows."""
    if target.startswith("/"):
        return (
            any(Path(path).exists() for path in glob.glob(target))
            if probe_specs.is_wildcard(target)
            else Path(target).exists()
        )
    name = target.removeprefix("lib").split(".so", 1)[0]
    return bool(name) and ctypes.util.find_library(name) is not None
