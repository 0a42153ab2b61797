"""The probe knowledge base: what each probe means, written by this project, one TOML file per subsystem.

A file names its subsystem and holds ``[[probe]]`` entries (any probe type), ``[[syscall]]`` entries
(one system call, which becomes its ``sys_enter_`` and ``sys_exit_`` tracepoints, each documented) and
``[[combination]]`` entries (probes that answer a question together, e.g. wakeup + switch for run-queue
latency). Files are validated when loaded: an unknown key or a duplicate probe is an error naming the
file and the entry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcptrace_knowledge.docs import PROBE_TYPES, Combination, KnowledgeBase, ProbeDoc, Subsystem, probe_type


class KnowledgeError(Exception):
    """A knowledge file is invalid; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeEntry(_Strict):
    name: str = Field(description="The probe as bpftrace writes it, probe type spelled out.")
    fires: str = Field(min_length=20, description="What makes it fire, in plain words.")
    fields: list[str] = Field(default_factory=list, description="Useful tracepoint fields (real names).")
    args: list[str] = Field(
        default_factory=list, description="Useful arguments of a kprobe/uprobe, 'argN: meaning'."
    )
    questions: list[str] = Field(min_length=1, description="Questions it helps answer.")
    companions: list[str] = Field(
        default_factory=list, description="Probes used with it (enter/exit, wakeup/switch...)."
    )
    alternative: str | None = Field(
        None, description="The tracepoint doing the same job where this probe type is missing."
    )
    keywords: list[str] = Field(default_factory=list, description="Other words people use for it.")
    notes: str | None = Field(None, description="Caveats: cost, versions, pitfalls.")
    subsystem: str | None = Field(None, description="Overrides the file's subsystem.")

    @field_validator("name", "alternative", "companions")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        for name in [value] if isinstance(value, str) else value or []:
            if probe_type(name) not in PROBE_TYPES or (name not in ("BEGIN", "END") and ":" not in name):
                raise ValueError(
                    f"{name!r} is not a probe spec with one of the types {', '.join(PROBE_TYPES)}"
                )
        return value


class SyscallEntry(_Strict):
    name: str = Field(
        pattern=r"^[a-z0-9_]+$", description="The system call as tracefs names it (newstat, openat...)."
    )
    does: str = Field(min_length=10, description="What the call does, completing 'The call ...'.")
    args: list[str] = Field(default_factory=list, description="Useful fields of sys_enter_<name>.")
    returns: str = Field(min_length=5, description="What ret holds at sys_exit_<name>.")
    questions: list[str] = Field(min_length=1)
    companions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    notes: str | None = None
    subsystem: str | None = None


class CombinationEntry(_Strict):
    probes: list[str] = Field(min_length=2)
    purpose: str = Field(min_length=10, description="The question the probes answer together.")


class KnowledgeFile(_Strict):
    subsystem: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    about: str = Field(min_length=20)
    probe: list[ProbeEntry] = Field(default_factory=list)
    syscall: list[SyscallEntry] = Field(default_factory=list)
    combination: list[CombinationEntry] = Field(default_factory=list)


def load_knowledge(sources: Iterable[tuple[str, str]] | None = None) -> KnowledgeBase:
    """Parse and validate knowledge files given as (file name, TOML text); the shipped ones by default."""
    probes: dict[str, ProbeDoc] = {}
    combinations: list[Combination] = []
    subsystems: dict[str, Subsystem] = {}
    for source, text in sources if sources is not None else shipped_files():
        try:
            parsed = KnowledgeFile.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise KnowledgeError(f"knowledge file {source}: not valid TOML: {error}") from None
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                for item in error.errors(include_url=False)
            )
            raise KnowledgeError(f"knowledge file {source}: {problems}") from None
        if parsed.subsystem in subsystems:
            raise KnowledgeError(
                f"knowledge file {source}: subsystem {parsed.subsystem!r} is already defined"
            )
        subsystems[parsed.subsystem] = Subsystem(parsed.subsystem, parsed.title, parsed.about)
        for doc in _docs(parsed, source):
            if doc.name in probes:
                raise KnowledgeError(
                    f"knowledge file {source}: {doc.name} is already documented in {probes[doc.name].source}"
                )
            probes[doc.name] = doc
        combinations += [
            Combination(tuple(c.probes), c.purpose, parsed.subsystem) for c in parsed.combination
        ]
    for doc in probes.values():
        if doc.subsystem not in subsystems:
            raise KnowledgeError(
                f"knowledge file {doc.source}: {doc.name} names unknown subsystem {doc.subsystem!r}"
            )
    return KnowledgeBase(probes, combinations, subsystems)


def shipped_files() -> list[tuple[str, str]]:
    folder = files(__package__).joinpath("kb")
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def _docs(parsed: KnowledgeFile, source: str) -> Iterable[ProbeDoc]:
    for entry in parsed.probe:
        yield ProbeDoc(
            name=entry.name,
            subsystem=entry.subsystem or parsed.subsystem,
            fires=entry.fires,
            fields=tuple(entry.fields),
            args=tuple(entry.args),
            questions=tuple(entry.questions),
            companions=tuple(entry.companions),
            alternative=entry.alternative,
            keywords=tuple(entry.keywords),
            notes=entry.notes,
            source=source,
        )
    for call in parsed.syscall:
        yield from _syscall_docs(call, parsed.subsystem, source)


def _syscall_docs(call: SyscallEntry, subsystem: str, source: str) -> tuple[ProbeDoc, ProbeDoc]:
    """A system call's two tracepoints: the entry sees the arguments, the exit sees the result."""
    enter, exit_ = f"tracepoint:syscalls:sys_enter_{call.name}", f"tracepoint:syscalls:sys_exit_{call.name}"
    common = dict(
        subsystem=call.subsystem or subsystem,
        keywords=(call.name, *call.keywords),
        notes=call.notes,
        source=source,
        alternative=None,
        args=(),
    )
    entry_doc = ProbeDoc(
        name=enter,
        fires=f"A thread enters the {call.name}() system call, which {call.does} "
        "It fires before the kernel does the work, with the arguments as the caller passed them "
        "(pointers are user-space addresses: read strings with str()).",
        fields=tuple(call.args),
        questions=tuple(call.questions),
        companions=(exit_, *call.companions),
        **common,
    )
    exit_doc = ProbeDoc(
        name=exit_,
        fires=f"The {call.name}() system call returns to user space; ret holds {call.returns} "
        f"Pair it with sys_enter_{call.name} (keyed by tid) for the latency and for the arguments of a result.",
        fields=("ret",),
        questions=tuple(call.questions),
        companions=(enter, *call.companions),
        **common,
    )
    return entry_doc, exit_doc
