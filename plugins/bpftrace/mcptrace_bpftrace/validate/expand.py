"""Layer 2: what each probe spec would attach here, and which specs cannot work here at all.

Kernel-side specs are matched against the probe catalog (one `bpftrace -l`, kept for the process);
uprobe and usdt specs name a binary, so each is listed with `bpftrace -l SPEC` (side by side). A
probe type is usable when the backend's trial run attached one (kprobes are often missing even where
`bpftrace --info` says yes). A uprobe on a missing function is reported here: bpftrace itself would
silently skip it and run without it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from mcptrace_core.models import TraceError
from mcptrace_core.program.hotness import hotness
from mcptrace_core.program.ir import Program
from mcptrace_core.program.probespec import KERNEL_FUNCTION_TYPES, PROBE_TYPES, USER_TYPES, ProbeSpec
from mcptrace_core.safety.models import ProbeCount

from mcptrace_bpftrace.probes import parse_listing, wildcard_regex
from mcptrace_bpftrace.validate.suggest import HostNames, kprobe_alternatives, nearest, probe_type_suggestions

Lister = Callable[[list[str]], Awaitable[str]]

_SINGLE = {"BEGIN", "END", "profile", "interval", "software", "hardware", "watchpoint", "asyncwatchpoint", "iter"}
"""Types whose spec attaches exactly one probe (profile/software/hardware: one per CPU, counted once)."""
_CATALOG_TYPE = {"kretprobe": "kprobe", "kretfunc": "kfunc"}
"""Return probes attach where their entry probes do; the catalog lists the entry kind."""
_USABILITY_KEY = {"BEGIN": "BEGIN/END", "END": "BEGIN/END"}


@dataclass
class ProbeCheck:
    probes: list[ProbeCount] = field(default_factory=list)
    errors: list[TraceError] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int | None]:
        return {probe.spec: probe.count for probe in self.probes}


def unknown_types(program: Program) -> list[TraceError]:
    """Specs whose probe type bpftrace does not know (it would abort on them): found without I/O."""
    return [
        TraceError(
            category="probe_not_found", line=spec.line, col=spec.col,
            message=f"unknown probe type {spec.type!r} in {spec.text}",
            hint="A probe is type:target, e.g. tracepoint:sched:sched_switch, kprobe:vfs_read, "
            "uprobe:/bin/bash:readline, profile:hz:99, interval:s:1, BEGIN, END.",
            suggestions=[f"{name}:{':'.join(spec.parts)}" if spec.parts else name
                         for name in probe_type_suggestions(spec.type)],
        )
        for spec in program.specs
        if not spec.known_type
    ]


async def check_probes(
    program: Program, usable_types: Mapping[str, bool], names: HostNames, lister: Lister
) -> ProbeCheck:
    """Count what each spec attaches here; report missing probes and unusable probe types."""
    checks = await asyncio.gather(*(_check(spec, usable_types, names, lister) for spec in program.specs))
    result = ProbeCheck()
    for count, error in checks:
        result.probes.append(count)
        if error is not None:
            result.errors.append(error)
    return result


async def _check(
    spec: ProbeSpec, usable_types: Mapping[str, bool], names: HostNames, lister: Lister
) -> tuple[ProbeCount, TraceError | None]:
    heat = hotness(spec).level
    usable = usable_types.get(_USABILITY_KEY.get(spec.type, spec.type))
    if spec.type not in PROBE_TYPES:
        return ProbeCount(spec=spec.text, type=spec.type, count=None, usable=False, hotness=heat,
                          note="unknown probe type"), None
    if usable is False:
        return (
            ProbeCount(spec=spec.text, type=spec.type, count=None, usable=False, hotness=heat,
                       note=f"{spec.type} probes do not work on this host"),
            _unusable(spec, names),
        )
    if spec.type in _SINGLE:
        return ProbeCount(spec=spec.text, type=spec.type, count=1, usable=usable, hotness=heat), None
    if spec.type in USER_TYPES:
        return await _check_user(spec, usable, heat, lister)
    kind = _CATALOG_TYPE.get(spec.type, spec.type)
    pattern = ":".join((kind, *spec.parts))
    if kind not in names.listed_types:
        return ProbeCount(spec=spec.text, type=spec.type, count=None, usable=usable, hotness=heat,
                          note=f"bpftrace -l lists no {kind} probes here, so they cannot be counted"), None
    regex = wildcard_regex(pattern)
    count = sum(1 for name in names.probes if regex.match(name))
    probe = ProbeCount(spec=spec.text, type=spec.type, count=count, usable=usable, hotness=heat)
    if count:
        return probe, None
    suggestions = names.nearest_probes(pattern.replace("*", ""))
    return probe.model_copy(update={"note": "matches nothing here"}), TraceError(
        category="probe_not_found", line=spec.line, col=spec.col,
        message=f"{spec.text} matches no probe on this host",
        hint="list_probes shows the probes that exist here (wildcards allowed).",
        suggestions=suggestions,
    )


def _unusable(spec: ProbeSpec, names: HostNames) -> TraceError:
    kernel_function = spec.type in KERNEL_FUNCTION_TYPES
    alternatives = kprobe_alternatives(spec, names) if kernel_function else []
    hint = f"{spec.type} probes cannot attach on this host (bpf_info says why)."
    if alternatives:
        hint += " These tracepoints observe the same event and work here."
    elif kernel_function:
        hint += " Look for a tracepoint covering the event with list_probes (e.g. 'tracepoint:syscalls:*read*')."
    return TraceError(
        category="unsupported_feature", line=spec.line, col=spec.col,
        message=f"{spec.text}: {spec.type} probes do not work on this host",
        hint=hint, suggestions=alternatives,
    )


async def _check_user(
    spec: ProbeSpec, usable: bool | None, heat: str, lister: Lister
) -> tuple[ProbeCount, TraceError | None]:
    function = spec.parts[-1] if len(spec.parts) >= 2 else ""
    probe = ProbeCount(spec=spec.text, type=spec.type, count=1, usable=usable, hotness=heat)
    if function.startswith("0x") or "+" in function or function.isdigit():
        return probe.model_copy(update={"note": "an address or offset: not listed"}), None
    listed_type = "usdt" if spec.type == "usdt" else "uprobe"
    pattern = ":".join((listed_type, *spec.parts))
    try:
        found = parse_listing(await lister(["-l", pattern]))
    except ValueError as error:
        said = re.search(r"ERROR: ([^;]+)", str(error))
        message = said.group(1).strip() if said else str(error)
        return probe.model_copy(update={"count": None, "note": "target not found"}), TraceError(
            category="probe_not_found", line=spec.line, col=spec.col, message=f"{spec.text}: {message}",
            hint="Give the full path of an executable or library (e.g. /usr/bin/bash, /lib/x86_64-linux-gnu/libc.so.6) "
            "or a library name bpftrace can find (libc, libssl).",
        )
    if found:
        return probe.model_copy(update={"count": len(found)}), None
    everything = parse_listing(await lister(["-l", ":".join((listed_type, *spec.parts[:-1], "*"))]))
    functions = [name.rsplit(":", 1)[-1] for name in everything]
    return probe.model_copy(update={"count": 0, "note": "matches nothing"}), TraceError(
        category="probe_not_found", line=spec.line, col=spec.col,
        message=f"{spec.text} matches no function in {spec.target}; bpftrace would silently run without it",
        hint=f"list_probes with '{listed_type}:{spec.target}:*' lists its {len(functions)} functions.",
        suggestions=[f"{spec.type}:{':'.join(spec.parts[:-1])}:{name}" for name in nearest(function.replace('*', ''), functions)],
    )
