"""Input and output of discover_probes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcptrace_core.models import Model
from mcptrace_core.tools import ToolInput, ToolOutput

from mcptrace_knowledge.docs import PROBE_TYPES

ProbeTypeName = Literal[PROBE_TYPES]  # type: ignore[valid-type]
"""The probe types the knowledge base documents."""
Mode = Literal["semantic+lexical", "lexical-only"]


class DiscoverInput(ToolInput):
    goal: str = Field(
        min_length=2,
        max_length=500,
        description="What you want to observe, in plain words or with probe names, e.g. 'why are disk writes "
        "slow', 'TCP retransmits per remote host', 'sched_switch'.",
    )
    probe_types: list[ProbeTypeName] = Field(
        default_factory=list,
        max_length=len(PROBE_TYPES),
        description="Only probes of these types (e.g. ['tracepoint'] for what works without kprobes). Empty: all.",
    )
    limit: int = Field(12, ge=1, le=50, description="Most probes to return, over all subsystems.")


class DiscoveredProbe(Model):
    name: str = Field(description="The probe as bpftrace writes it, e.g. 'tracepoint:sched:sched_switch'.")
    type: str = Field(description="Its probe type.")
    description: str = Field(
        description="What makes it fire (from mcptrace's knowledge base), or a note when undocumented."
    )
    why_relevant: str = Field(
        description="Why it matches the goal: matched words and the question it answers."
    )
    fields: list[str] = Field(
        description="Useful fields with their C types as this host declares them (tracepoints), or arguments "
        "(kprobes/uprobes: arg0.., retval)."
    )
    usable_here: bool = Field(
        description="Its probe type works on this host and the probe is not known to be missing."
    )
    exists_here: bool | None = Field(
        description="Whether this host has it; null when the host cannot tell (e.g. kprobes unsupported)."
    )
    companions: list[str] = Field(
        description="Probes used together with it (enter/exit, wakeup/switch, issue/complete...)."
    )
    alternative: str | None = Field(
        None, description="A tracepoint that does the same job where this probe type is missing."
    )
    documented: bool = Field(
        description="Documented in mcptrace's knowledge base (resource mcptrace://probes/{name})."
    )
    score: float = Field(description="Relevance, higher is better (comparable within one answer only).")


class SubsystemGroup(Model):
    subsystem: str
    title: str
    probes: list[DiscoveredProbe]


class Combination(Model):
    probes: list[str]
    purpose: str = Field(description="What the probes answer together.")
    usable_here: bool = Field(description="Every probe of the combination is usable here.")


class DiscoverResult(ToolOutput):
    goal: str
    mode: Mode = Field(
        description="'semantic+lexical' when an embedder ranks by meaning, else 'lexical-only' (words and names)."
    )
    groups: list[SubsystemGroup] = Field(
        description="Matching probes grouped by subsystem, best group first."
    )
    combinations: list[Combination] = Field(
        description="Suggested probe combinations that involve the results."
    )
    total: int = Field(description="Probes returned.")
    notes: list[str] = Field(
        description="What limited the answer (no embedder, host facts missing, kprobes absent...)."
    )

    def to_text(self) -> str:
        lines = [f"{self.total} probes for {self.goal!r} ({self.mode})"]
        for group in self.groups:
            lines.append(f"[{group.title}]")
            for probe in group.probes:
                mark = (
                    ""
                    if probe.usable_here
                    else "  (NOT usable here"
                    + (f"; use {probe.alternative}" if probe.alternative else "")
                    + ")"
                )
                lines.append(f"  {probe.name}{mark}")
                lines.append(f"      {probe.description}")
                if probe.fields:
                    lines.append(f"      fields: {', '.join(probe.fields)}")
                lines.append(f"      why: {probe.why_relevant}")
        if self.combinations:
            lines.append("combinations:")
            lines += [f"  {' + '.join(c.probes)}: {c.purpose}" for c in self.combinations]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)
