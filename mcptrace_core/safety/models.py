"""The vocabulary of run safety: findings, policies, and the validation report every backend returns.

Backend-agnostic: the bpftrace backend fills a ValidationReport for a program, the BCC backend for a
run of an installed tool (``ToolRun``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mcptrace_core.models import Model, Severity, TraceError
from mcptrace_core.runs.models import ValidationSummary
from mcptrace_core.safety.allowlists import DEFAULT_INCLUDE_DIRS, DEFAULT_READABLE_FILES

Verdict = Literal["allow", "confirm", "block"]
VERDICTS: tuple[Verdict, ...] = ("allow", "confirm", "block")
ToolVerdict = Literal["confirm", "block"]

POLICY_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
RULE_ID = r"^[a-z][a-z0-9_.-]{0,63}$"


def stricter(first: Verdict, second: Verdict) -> Verdict:
    return first if VERDICTS.index(first) >= VERDICTS.index(second) else second


class Finding(Model):
    """What a safety rule found in a program, with why it matters and how to do without it."""

    rule: str = Field(description="The id of the rule that raised it, e.g. 'unsafe-builtin'.")
    severity: Severity = Field(description="info, low, medium, high or critical, after the policy's overrides.")
    message: str = Field(description="What was found, naming the probe, call or path.")
    line: int | None = Field(default=None, description="1-based line in the program.")
    col: int | None = Field(default=None, description="1-based column in the program.")
    rationale: str = Field(default="", description="Why the rule exists.")
    fix: str = Field(default="", description="How to get the same answer safely.")
    requires_unsafe: bool = Field(
        default=False, description="The program can only run with bpftrace --unsafe because of this."
    )
    requires_confirmation: bool = Field(
        default=False,
        description="The user must confirm because of this, whatever the policy's severity levels say "
        "(a policy that lists a tool as 'confirm').",
    )


class Thresholds(BaseModel):
    """Numbers the built-in rules compare against. Third-party rules may read extra keys."""

    model_config = ConfigDict(extra="allow")

    attach_confirm_over: int = Field(100, ge=1, description="More attached probes than this needs confirmation.")
    attach_block_over: int = Field(1000, ge=1, description="More attached probes than this is refused.")
    max_sampling_hz: float = Field(1000, gt=0, description="Highest profile:/interval: rate per CPU, in Hz.")
    min_event_period: int = Field(
        10_000, ge=1, description="Smallest sample period of software:/hardware: events (one sample every N events)."
    )
    max_duration_s: float = Field(600, gt=0, description="Longest run, in seconds.")


class OverheadBudget(BaseModel):
    """What a run may cost while it runs; the run manager's watchdog stops a run over it (maps kept).

    Every figure is a ceiling; null means no limit. Rates and CPU shares are averaged over ``window_s``.
    """

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(2.0, ge=0.5, le=60, description="Seconds rates and CPU shares are averaged over.")
    max_cpu_pct: float | None = Field(
        None, gt=0, le=100,
        description="Share of the whole machine's CPU (all cores) the run's BPF programs and its process may use, %.",
    )
    max_events_per_s: float | None = Field(None, gt=0, description="BPF program runs per second, all programs together.")
    max_map_bytes: int | None = Field(None, ge=4096, description="Locked kernel memory of the run's BPF maps, bytes.")
    max_output_lines_per_s: float | None = Field(
        None, gt=0, description="Output lines per second (the runtime flood limit); over it the run is stopped."
    )
    max_output_bytes_per_s: float | None = Field(None, gt=0, description="Output bytes per second.")


class SafetyPolicy(Model):
    """A named way of turning findings into a verdict: rule switches, severities, thresholds, limits."""

    name: str = Field(pattern=POLICY_NAME, description="How callers and the config select it (safety.level).")
    description: str = Field(description="Who the policy is for, in one or two sentences.")
    confirm_at: Severity = Field(
        Severity.high, description="A finding at or above this severity needs the user's confirmation."
    )
    block_at: Severity = Field(Severity.critical, description="A finding at or above this severity refuses the run.")
    allow_unsafe: bool = Field(
        False, description="Whether a program may run with bpftrace --unsafe at all (always after confirmation)."
    )
    model_confirmation: bool = Field(
        False,
        description="Whether the confirm argument a model sets counts as confirmation; otherwise the user is asked "
        "through the MCP client.",
    )
    disabled_rules: list[str] = Field(default_factory=list, description="Rule ids that do not run under this policy.")
    severities: dict[str, Severity] = Field(
        default_factory=dict, description="Severity overrides by rule id, e.g. {'hot-probe-output': 'medium'}."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    allowed_probes: list[str] = Field(
        default_factory=list,
        description="When not empty, only probe specs matching one of these wildcard patterns may be used "
        "(e.g. 'tracepoint:*', 'profile:*').",
    )
    limits: dict[str, int] = Field(
        default_factory=dict,
        description="Limits handed to the backend through its environment, e.g. {'BPFTRACE_MAP_KEYS_MAX': 4096}.",
    )
    readable_files: list[str] = Field(
        default_factory=lambda: list(DEFAULT_READABLE_FILES),
        description="Files cat() may read without confirmation, as shell-style patterns over the resolved path "
        "('*' stays within one component, '**' spans any number), e.g. '/proc/[0-9]*/status'. Any other file "
        "is a high finding (confirmed under standard, refused under strict).",
    )
    include_dirs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INCLUDE_DIRS),
        description="Directories #include may read headers from (resolved; patterns allowed, e.g. '/usr/lib/llvm-*'). "
        "An include outside them, or of a device, FIFO or /proc file, is refused before bpftrace sees it.",
    )
    budget: OverheadBudget = Field(
        default_factory=OverheadBudget,
        description="Runtime limits: CPU share, events/s, map memory, output lines/s and bytes/s; a run over "
        "one is stopped with status over_budget or output_limited, its maps kept.",
    )
    tools: dict[str, ToolVerdict] = Field(
        default_factory=dict,
        description="Installed tools (BCC tools) this policy refuses ('block') or runs only after the user's "
        "confirmation ('confirm'), whatever the rules find, by name or shell-style pattern, e.g. "
        "{'tcp*': 'block', 'opensnoop': 'confirm'}. A name matches every build of a tool (opensnoop-bpfcc too).",
    )

    @field_validator("disabled_rules")
    @classmethod
    def _rule_ids(cls, value: list[str]) -> list[str]:
        import re

        bad = [rule for rule in value if not re.match(RULE_ID, rule)]
        if bad:
            raise ValueError(f"not rule ids: {bad}")
        return value

    @field_validator("tools")
    @classmethod
    def _tool_patterns(cls, value: dict[str, ToolVerdict]) -> dict[str, ToolVerdict]:
        import re

        bad = [pattern for pattern in value if not re.match(r"^[A-Za-z0-9_.+*?\[\]-]{1,128}$", pattern)]
        if bad:
            raise ValueError(f"tool patterns are names with * ? [ ] wildcards, got {bad}")
        return value

    @field_validator("readable_files", "include_dirs")
    @classmethod
    def _absolute_patterns(cls, value: list[str]) -> list[str]:
        bad = [pattern for pattern in value
               if not pattern.startswith("/") or "/../" in f"{pattern}/" or "/./" in f"{pattern}/" or "%" in pattern]
        if bad:
            raise ValueError(f"file patterns are absolute paths without '.', '..' or '%' components, got {bad}")
        return value

    @field_validator("limits")
    @classmethod
    def _limit_names(cls, value: dict[str, int]) -> dict[str, int]:
        import re

        bad = [name for name in value if not re.match(r"^[A-Z][A-Z0-9_]*$", name)]
        if bad:
            raise ValueError(f"limit names are environment variable names in capitals, got {bad}")
        negative = [name for name, limit in value.items() if limit < 1]
        if negative:
            raise ValueError(f"limits must be positive: {negative}")
        return value


@dataclass(frozen=True)
class ToolRun:
    """A run of an installed tool as the safety rules see it: which tool, with which checked arguments."""

    backend: str
    name: str
    """The tool as installed, e.g. 'opensnoop-bpfcc'."""
    base_name: str
    """The tool whatever its build, e.g. 'opensnoop' (rules and policies match on either)."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The arguments by name, as the caller gave them (already checked against the tool's options)."""
    argv: tuple[str, ...] = ()
    """The words after the tool's path, as it will be started."""

    @property
    def command(self) -> str:
        """The command line as a person would read it (never run through a shell)."""
        return " ".join([self.name, *self.argv])


class ProbeCount(Model):
    """One probe spec of the program and what it would attach here."""

    spec: str = Field(description="The spec as written, e.g. 'tracepoint:syscalls:sys_enter_open*'.")
    type: str = Field(description="Its probe type, aliases expanded.")
    count: int | None = Field(description="Probes it would attach here; null when it cannot be counted.")
    usable: bool | None = Field(description="Whether its probe type works on this host; null when unknown.")
    hotness: str = Field(description="low, moderate, high or very_high: how often it fires on a busy host.")
    note: str | None = Field(default=None, description="Why it is missing, unusable or uncounted.")


class CostPrediction(Model):
    """What a program is expected to cost here, from what this host measured before (or sampled now)."""

    events_per_s: float | None = Field(description="Expected BPF program runs per second; null when unknown.")
    cpu_pct: float | None = Field(
        description="Expected share of the whole machine's CPU its BPF programs take, %; null when unknown."
    )
    basis: Literal["same_program", "measured", "sampled", "partly_measured", "not_measured"] = Field(
        description="same_program: earlier runs of this very program; measured: earlier runs of the same probes; "
        "sampled: a short count of the probes now; partly_measured: some probes only; not_measured: nothing known."
    )
    how: str = Field(description="How the figures were obtained, in one sentence.")
    runs: int = Field(0, description="Earlier measured runs the prediction comes from.")
    unmeasured: list[str] = Field(default_factory=list, description="Probe specs nothing is known about.")


class CostEstimate(Model):
    """What running the program costs the host, before it runs."""

    attached_probes: int | None = Field(description="Probes attached in all; null when some cannot be counted.")
    hotness: str = Field(description="The hottest probe's class: low, moderate, high or very_high.")
    hotness_reason: str
    expected_detach_s: float = Field(description="Seconds bpftrace needs to detach its probes when it stops.")
    label: Literal["low", "medium", "high"]
    reason: str = Field(description="Why the label, in one sentence.")
    predicted: CostPrediction | None = Field(
        None, description="Events/s and CPU share predicted from this host's measurements (validate_program)."
    )


LayerState = Literal["passed", "failed", "skipped"]


class LayerResult(Model):
    """How one validation layer went."""

    layer: Literal["parse", "compile", "probes", "safety"]
    state: LayerState
    detail: str = ""


class ValidationReport(Model):
    """Everything validate_program learns about a program before it runs."""

    valid: bool = Field(description="The program parses, compiles here and its probes exist and are usable here.")
    verdict: Verdict = Field(description="allow, confirm (the user must approve) or block, under the policy.")
    policy: str = Field(description="The safety policy that gave the verdict.")
    errors: list[TraceError] = Field(default_factory=list, description="What stops the program from running here.")
    warnings: list[str] = Field(default_factory=list, description="What bpftrace warned about.")
    findings: list[Finding] = Field(default_factory=list, description="What the safety rules found.")
    probes: list[ProbeCount] = Field(default_factory=list)
    estimated_cost: CostEstimate | None = None
    requires_unsafe: bool = Field(False, description="The program calls builtins that need bpftrace --unsafe.")
    layers: list[LayerResult] = Field(default_factory=list, description="Each layer that ran, in order.")

    def summary(self) -> ValidationSummary:
        """The verdict and findings, as a run's history record carries them (rationales left out: they are
        the rules' fixed texts)."""
        return ValidationSummary(
            self.verdict, tuple(finding.model_dump(mode="json", exclude={"rationale"}) for finding in self.findings)
        )
