"""Pydantic models shared between the core, the plugins and the MCP tools.

Only models that cross a plugin boundary live here; a plugin keeps its private models to itself.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of the shared models: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Severity(str, Enum):
    """How much a finding matters, in increasing order."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class HostCheck(Model):
    """One fact about the host, as `mcptrace doctor` and bpf_info report it."""

    name: str = Field(description="What was checked, e.g. 'tracefs mounted'.")
    ok: bool = Field(description="Whether it works here.")
    detail: str = Field(default="", description="What was measured.")
    fix: str | None = Field(default=None, description="The exact step that fixes it, when it does not work.")


class HistBucket(Model):
    """One bucket of a power-of-two or linear histogram: the half-open range [low, high)."""

    low: float | None = Field(description="Inclusive lower bound; None for the underflow bucket.")
    high: float | None = Field(description="Exclusive upper bound; None for the overflow bucket.")
    count: int = Field(ge=0)


class MapStats(Model):
    """The value of a stats() or avg() aggregation."""

    count: int | None = None
    average: float | None = None
    total: float | None = None


class MapEntry(Model):
    """One key of a map and its value; exactly one of value, buckets and stats is set."""

    key: str | None = Field(default=None, description="The key as bpftrace prints it; None for a scalar map.")
    value: int | float | str | list[int | float | str] | None = None
    buckets: list[HistBucket] | None = None
    stats: MapStats | None = None


class TraceMap(Model):
    """A bpftrace map (or a BCC histogram) as structured data."""

    name: str = Field(description="The map name with its '@', e.g. '@bytes'.")
    kind: Literal["value", "hist", "stats"] = Field(
        description="value: counts, sums, min/max and plain values; hist: hist()/lhist(); stats: stats()/avg()."
    )
    entries: list[MapEntry] = Field(default_factory=list)


class TableRow(Model):
    """One row of a column table, parsed from one output line."""

    line: int = Field(description="Index of the output line the row was parsed from (as in get_result offsets).")
    values: dict[str, str | int | float] = Field(description="Column name -> value; numbers are converted.")


class TraceTable(Model):
    """Rows of a column table a tool printed (a BCC tool's header line and the lines under it)."""

    columns: list[str] = Field(description="The column names, from the tool's header line.")
    header_line: int = Field(description="Index of the output line with the column names.")
    rows: list[TableRow] = Field(description="The rows within the requested page of output lines.")


ErrorCategory = Literal[
    "syntax",
    "semantic",
    "probe_not_found",
    "unsafe_builtin",
    "permission",
    "resource",
    "attach",
    "verifier",
    "unsupported_feature",
    "input",
    "internal",
]


class TraceError(Model):
    """One error of a program or a run, structured so that an assistant can fix it in one step."""

    category: ErrorCategory
    message: str = Field(description="What went wrong, in the tool's words (cleaned).")
    line: int | None = Field(default=None, description="1-based line in the program, when known.")
    col: int | None = Field(default=None, description="1-based column in the program, when known.")
    hint: str | None = Field(default=None, description="What to do about it.")
    suggestions: list[str] = Field(default_factory=list, description="Concrete replacements to try.")
    transient: bool = Field(
        default=False, description="A busy resource, not the program: the same program may succeed if run again."
    )


ProbeRequirement = Literal[
    "tracepoint", "kprobe", "kretprobe", "kfunc", "uprobe", "uretprobe", "usdt", "profile", "interval",
    "software", "hardware", "watchpoint", "iter", "btf", "kernel_headers",
]


class ExampleDefinition(Model):
    """One example as a pack file holds it: a tested bpftrace program that answers one question.

    Packs ship one TOML file per example; ``docs/schemas/example.schema.json`` is generated from this
    model. The loader adds what only it knows (the pack) and fills ``source`` in, giving an Example.
    """

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{1,80}$",
        description="Unique within its pack and equal to the file name without .toml, e.g. 'sched.runq-latency'.",
    )
    title: str = Field(min_length=3, max_length=120, description="One line, what it shows.")
    description: str = Field(
        min_length=20, description="What question it answers and how to read its output, in plain words."
    )
    program: str = Field(min_length=1, description="The bpftrace program.")
    probes: list[str] = Field(min_length=1, description="The probe specs it attaches, as written in the program.")
    tags: list[str] = Field(default_factory=list, description="Extra words people search with.")
    category: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Subsystem, e.g. 'scheduler', 'network', 'block', 'memory'.",
    )
    requires: list[ProbeRequirement] = Field(
        default_factory=list,
        description="Probe types and kernel features it needs; every probe type it attaches must be listed.",
    )
    output: Literal["events", "map", "hist", "stats", "mixed"] = Field(
        description="What it prints: events (a line per event), map (counts or sums), hist, stats, or mixed."
    )
    complexity: Literal["basic", "intermediate", "advanced"] = "basic"
    source: str | None = Field(
        None, description="Where it came from: 'mcptrace', 'host:/usr/sbin/x.bt', an import file; the pack name if unset."
    )
    run_exception: str | None = Field(
        None, description="Why CI does not run it for one second even where its requirements are met."
    )


class Example(ExampleDefinition):
    """An example as search and the tools see it: its definition plus the pack it came from."""

    source: str = Field(  # type: ignore[assignment]
        "mcptrace", description="Where it came from: 'mcptrace', 'host:/usr/sbin/x.bt', an import file."
    )
    pack: str = Field("", description="The pack it was loaded from; set by the loader.")
