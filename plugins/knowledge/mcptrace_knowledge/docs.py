"""What the knowledge base holds once loaded: documented probes, combinations, subsystems.

Plain dataclasses, cheap to import; the TOML schema and loader are in ``knowledge`` and load lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

PROBE_TYPES = (
    "tracepoint",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "usdt",
    "kfunc",
    "kretfunc",
    "software",
    "hardware",
    "profile",
    "interval",
    "BEGIN",
    "END",
)


def probe_type(name: str) -> str:
    return name.split(":", 1)[0]


@dataclass(frozen=True)
class ProbeDoc:
    """One documented probe, as discovery and the probe resources use it."""

    name: str
    subsystem: str
    fires: str
    fields: tuple[str, ...]
    args: tuple[str, ...]
    questions: tuple[str, ...]
    companions: tuple[str, ...]
    alternative: str | None
    keywords: tuple[str, ...]
    notes: str | None
    source: str
    """The knowledge file it comes from."""

    @property
    def type(self) -> str:
        return probe_type(self.name)

    @property
    def short_name(self) -> str:
        """The last part of the name: ``sched_switch``, ``malloc``, ``cpu-clock``."""
        parts = [part for part in self.name.split(":") if part]
        return parts[-1] if parts else self.name

    def search_text(self) -> str:
        """What meaning-based ranking embeds: what fires it and what it answers, in words."""
        return " ".join([self.short_name.replace("_", " "), self.fires, *self.questions, *self.keywords])


@dataclass(frozen=True)
class Combination:
    probes: tuple[str, ...]
    purpose: str
    subsystem: str


@dataclass(frozen=True)
class Subsystem:
    id: str
    title: str
    about: str


@dataclass
class KnowledgeBase:
    probes: dict[str, ProbeDoc]
    combinations: list[Combination]
    subsystems: dict[str, Subsystem]

    @cached_property
    def ordered(self) -> list[ProbeDoc]:
        """Every probe, in a stable order (rows of the ranking indexes)."""
        return sorted(self.probes.values(), key=lambda doc: (doc.subsystem, doc.name))

    def combinations_with(self, name: str) -> list[Combination]:
        return [combination for combination in self.combinations if name in combination.probes]
