"""What this host offers, as discovery needs it: probe names, usable probe types, fields, binary symbols.

Everything comes from the bpftrace backend's catalog (no second catalog): its listing of probes, its
measured probe types and its tracefs fields. When the backend is missing or cannot list (bpftrace not
installed, no privilege), discovery still works on the knowledge base and says why host facts are absent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mcptrace_knowledge.docs import probe_type

# The probe-type name of probe_types() that decides whether a probe of this type is usable.
USABILITY_KEY = {"BEGIN": "BEGIN/END", "END": "BEGIN/END"}
ALWAYS_PRESENT = ("profile", "interval", "BEGIN", "END")
"""Probe types that are not listed but exist wherever their type works."""
BINARY_TYPES = ("uprobe", "uretprobe")


@dataclass
class HostView:
    names: list[str]
    """Every listed probe, event names without bpftrace's trailing ':' (software:cpu-clock)."""
    usable_types: frozenset[str]
    backend: Any | None
    problem: str | None = None
    _name_set: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self._name_set = frozenset(self.names)

    async def load_binaries(self, targets: Iterable[str]) -> None:
        """List the functions of these binaries side by side (~0.15 s each with bpftrace, once per process)."""
        if self.known and "uprobe" in self.usable_types:
            await asyncio.gather(*(self._functions(target) for target in set(targets)))

    async def _functions(self, target: str) -> frozenset[str]:
        try:
            return await self.backend.catalog.binary_functions(target)
        except Exception:  # a listing that fails (privilege, timeout) only means "cannot tell"
            return frozenset()

    @property
    def known(self) -> bool:
        return self.problem is None

    def type_usable(self, name: str) -> bool:
        kind = probe_type(name)
        return USABILITY_KEY.get(kind, kind) in self.usable_types

    async def exists(self, name: str) -> bool | None:
        """True or False when this host can tell, None when it cannot (kprobes without kprobe support, usdt)."""
        if not self.known:
            return None
        kind = probe_type(name)
        if kind in ALWAYS_PRESENT:
            return True
        if kind in ("kprobe", "kretprobe"):
            return ("kprobe:" + name.split(":", 1)[1]) in self._name_set if self.type_usable(name) else None
        if kind in BINARY_TYPES:
            if "uprobe" not in self.usable_types:
                return None
            _, target, function = name.split(":", 2)
            return function in await self._functions(target)
        if kind in ("tracepoint", "software", "hardware"):
            return name in self._name_set
        return None

    async def fields(self, name: str) -> dict[str, str] | None:
        """A tracepoint's fields: name -> declaration ("char prev_comm[16]"), None when unknown here."""
        if not self.known or probe_type(name) != "tracepoint" or name not in self._name_set:
            return None
        found = await self.backend.catalog.tracepoint_fields(name)
        return {item.name: item.decl for item in found} if found is not None else None


async def host_view(services: Any) -> HostView:
    """The host as the bpftrace backend sees it; an empty view naming the problem when it cannot see."""
    backend = services.registry.get("backend", "bpftrace")
    if backend is None:
        return HostView(
            [], frozenset(), None, problem="the bpftrace backend is not loaded (see `mcptrace plugins`)"
        )
    try:
        names = await backend.catalog.names()
        probe_types = await backend.probe_types()
    except Exception as error:  # missing bpftrace, no privilege, listing failure: all reported the same way
        return HostView([], frozenset(), backend, problem=f"cannot list this host's probes: {error}")
    usable = frozenset(kind for kind, status in probe_types.items() if status.usable)
    return HostView([name.rstrip(":") for name in names], usable, backend)
