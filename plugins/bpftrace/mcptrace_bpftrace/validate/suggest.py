"""Suggestions that fix errors: real names close to a wrong one, a tracepoint's real fields, a
tracepoint for a kprobe that cannot attach here. Every suggestion exists on this host."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mcptrace_core.models import TraceError
from mcptrace_core.program.builtins import BUILTIN_FUNCTIONS, BUILTIN_VARIABLES
from mcptrace_core.program.ir import Assignment, Program, Variable, walk
from mcptrace_core.program.probespec import PROBE_TYPE_ALIASES, PROBE_TYPES, ProbeSpec

from mcptrace_bpftrace.validate.alternatives import tracepoint_alternatives

MAX_SUGGESTIONS = 5

_TRACEPOINT_MISSING = re.compile(r"tracepoint not found: (\S+)")
_BAD_FIELD = re.compile(r"Struct/union of type 'struct _tracepoint_(\w+)' does not contain a field named '(\w+)'")
_UNKNOWN_FUNCTION = re.compile(r"Unknown function: (\w+)")
_UNKNOWN_IDENTIFIER = re.compile(r"Unknown identifier: '?(\w+)'?")
_UNDEFINED_VARIABLE = re.compile(r"Undefined or undeclared variable: (\$\w+)")
_KPROBE = re.compile(r"(k(?:ret)?probe|kfunc|kretfunc):([^'\s)]+)")


def nearest(word: str, candidates: Iterable[str], limit: int = MAX_SUGGESTIONS, cutoff: float = 0.6) -> list[str]:
    return difflib.get_close_matches(word, list(candidates), n=limit, cutoff=cutoff)


@dataclass(frozen=True)
class HostNames:
    """What exists here, for suggestions: every listed probe and each tracepoint's fields."""

    probes: Sequence[str]
    tracepoint_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    listed_types: frozenset[str] = frozenset()
    """The probe types `bpftrace -l` lists here (no kprobe on a kernel without kprobes)."""

    @classmethod
    def of(cls, probes: Sequence[str], tracepoint_fields: Mapping[str, tuple[str, ...]] | None = None) -> HostNames:
        types = frozenset(name.split(":", 1)[0] for name in probes)
        return cls(probes, tracepoint_fields or {}, types)

    def tracepoints(self) -> set[str]:
        return {name for name in self.probes if name.startswith("tracepoint:")}

    def nearest_probes(self, spec: str) -> list[str]:
        """Probes named like ``spec`` (a canonical spec without wildcards), same type and category first."""
        kind, _, rest = spec.partition(":")
        same_type = [name for name in self.probes if name.startswith(kind + ":")]
        if kind == "tracepoint" and ":" in rest:
            category = rest.split(":", 1)[0]
            same_category = [name for name in same_type if name.startswith(f"tracepoint:{category}:")]
            close = nearest(spec, same_category)
            if close:
                return close
        return nearest(spec, same_type)

    def fields_of(self, tracepoint: str) -> list[str]:
        """The field names of a tracepoint ('syscalls:sys_enter_read'), from `bpftrace -lv`."""
        declarations = self.tracepoint_fields.get(f"tracepoint:{tracepoint}", ())
        return [declaration.split()[-1].lstrip("*").split("[")[0] for declaration in declarations]

    def tracepoint_of_struct(self, struct_suffix: str) -> str | None:
        """'syscalls_sys_enter_read' (from 'struct _tracepoint_syscalls_sys_enter_read') -> 'syscalls:sys_enter_read'."""
        for name in self.tracepoint_fields:
            category, _, event = name.removeprefix("tracepoint:").partition(":")
            if f"{category}_{event}" == struct_suffix:
                return f"{category}:{event}"
        return None


def needs_tracepoint_fields(errors: Iterable[TraceError]) -> bool:
    """Whether some error is about a tracepoint field (reading the fields takes a `bpftrace -lv`)."""
    return any(_BAD_FIELD.search(error.message) for error in errors)


def kprobe_alternatives(spec: ProbeSpec, names: HostNames) -> list[str]:
    function = spec.function or ""
    return tracepoint_alternatives(function, spec.type in ("kretprobe", "kretfunc"), names.tracepoints())


def probe_type_suggestions(word: str) -> list[str]:
    return nearest(word, sorted(PROBE_TYPES | set(PROBE_TYPE_ALIASES)), cutoff=0.5)


def enrich(errors: Sequence[TraceError], names: HostNames, program: Program | None) -> list[TraceError]:
    """The errors with suggestions added where the message names something that has a real neighbour."""
    return [_enrich(error, names, program) for error in errors]


def _enrich(error: TraceError, names: HostNames, program: Program | None) -> TraceError:
    message = error.message
    suggestions: list[str] = []
    hint = error.hint
    if match := _TRACEPOINT_MISSING.search(message):
        suggestions = names.nearest_probes(f"tracepoint:{match.group(1)}")
    elif match := _BAD_FIELD.search(message):
        tracepoint = names.tracepoint_of_struct(match.group(1))
        if tracepoint is not None:
            fields = names.fields_of(tracepoint)
            close = nearest(match.group(2), fields, cutoff=0.4)
            suggestions = [f"args->{field}" for field in close]
            hint = f"tracepoint:{tracepoint} has the fields: {', '.join(fields)}"
    elif match := _UNKNOWN_FUNCTION.search(message):
        suggestions = [f"{name}()" for name in nearest(match.group(1), BUILTIN_FUNCTIONS)]
    elif match := _UNKNOWN_IDENTIFIER.search(message):
        suggestions = nearest(match.group(1), BUILTIN_VARIABLES)
    elif (match := _UNDEFINED_VARIABLE.search(message)) and program is not None:
        suggestions = nearest(match.group(1), _assigned_variables(program))
    elif error.category in ("attach", "unsupported_feature") and (match := _KPROBE.search(message)):
        suggestions = kprobe_alternatives(ProbeSpec.parse(match.group(0)), names)
    if not suggestions and hint == error.hint:
        return error
    merged = list(dict.fromkeys([*error.suggestions, *suggestions]))[:MAX_SUGGESTIONS * 2]
    return error.model_copy(update={"suggestions": merged, "hint": hint})


def _assigned_variables(program: Program) -> list[str]:
    return list(dict.fromkeys(
        node.target.name for node in walk(program) if isinstance(node, Assignment) and isinstance(node.target, Variable)
    ))
