"""What a template is: typed parameters, the filters and outputs it composes with, and a body.

Packs ship templates as data (one TOML file each, see ``loader``); a plugin may also build them in
Python. Either way a Template is validated when it is made: parameter kinds exist and fit their
specs, names do not clash with the common parameters, every required parameter has an example.
What is derived from it (the pydantic model of its parameters, their JSON schema, the compiled body) is
built on first use and kept on the template, so a pack that keeps its templates pays for it once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, create_model, field_validator, model_validator

from mcptrace_core.models import Model, ProbeRequirement
from mcptrace_core.templates.kinds import IDENTIFIER, KINDS
from mcptrace_core.tools import ToolInput

OutputMode = Literal["count", "sum", "hist", "stats", "printf"]
FilterName = Literal["pid", "comm", "cgroup"]
AGGREGATE_OUTPUTS: frozenset[str] = frozenset({"count", "sum", "hist", "stats"})
"""Outputs that fill maps; they can be printed as a time series (interval_s) and cut to the top N."""
HELPER_NAMES = frozenset({"when", "matches", "aggregate", "finish", "scaled", "output"})
"""Names the body uses for the composition helpers; no parameter may take them (``output`` is common)."""


class ParameterSpec(Model):
    """One parameter of a template, as its TOML table declares it."""

    kind: str = Field(description=f"How the value is checked and rendered: {', '.join(KINDS)}.")
    description: str = Field(min_length=10, description="What it does, for the caller; the allowed values are added.")
    default: Any = Field(None, description="Used when the caller leaves it out.")
    optional: bool = Field(False, description="May be left out without a default: the feature it controls is off.")
    example: Any = Field(None, description="A value for documentation and tests; required when there is no default.")
    min: int | float | str | None = Field(None, description="Smallest value (ints, times, sizes, seconds).")
    max: int | float | str | None = Field(None, description="Largest value (ints, times, sizes, seconds).")
    unit: Literal["ns", "us", "ms", "s"] = Field("ms", description="Unit of a bare number for a threshold.")
    choices: list[str] | None = Field(None, description="The values of an enum.")
    max_length: int | None = Field(None, ge=1, le=200, description="Longest string, in bytes.")
    probe_types: list[str] | None = Field(None, description="Probe types a probe pattern may use.")
    wildcards: bool = Field(False, description="A symbol may hold '*' and '?' wildcards.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind {value!r}; kinds: {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> ParameterSpec:
        KINDS[self.kind].check_spec(self)
        if self.optional and self.default is not None:
            raise ValueError("a parameter is either optional (null turns its feature off) or has a default, not both")
        if self.required and self.example is None:
            raise ValueError("a parameter without a default needs an example (docs and tests render with it)")
        return self

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    def schema_description(self) -> str:
        return f"{self.description.rstrip()} Allowed: {KINDS[self.kind].allowed(self)}."


def common_parameters(filters: list[str], outputs: list[str], filter_help: dict[str, str]) -> dict[str, ParameterSpec]:
    """The parameters a template gets from the filters and outputs it declares."""
    specs: dict[str, ParameterSpec] = {}
    filter_specs = {
        "pid": ParameterSpec(kind="pid", optional=True, description="Only events of this process (its PID as ps shows it)."),
        "comm": ParameterSpec(kind="comm", optional=True, description="Only events of tasks with exactly this command name."),
        "cgroup": ParameterSpec(kind="cgroup", optional=True, description="Only events of tasks in this cgroup v2 (a container or service)."),
    }
    for name in filters:
        spec = filter_specs[name]
        specs[name] = spec.model_copy(update={"description": filter_help[name]}) if name in filter_help else spec
    if len(outputs) > 1:
        specs["output"] = ParameterSpec(
            kind="enum", choices=list(outputs), default=outputs[0],
            description="What to report: count = events per key, sum = total of the value, hist = power-of-2 "
            "histogram, stats = count/average/total, printf = one line per event.",
        )
    if AGGREGATE_OUTPUTS.intersection(outputs):
        specs["interval_s"] = ParameterSpec(
            kind="interval", optional=True,
            description="Print the results and start over every this many seconds (a time series) instead of once at the end.",
        )
        specs["top"] = ParameterSpec(
            kind="int", optional=True, min=1, max=10_000, description="Print only the N largest entries of each result.",
        )
    specs["duration_s"] = ParameterSpec(
        kind="duration", optional=True, description="Exit on its own after this many seconds (a run's timeout also stops it).",
    )
    return specs


class TemplateParameters(ToolInput):
    """Base of every template's parameter model: unknown names are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Template(Model):
    """A parameterised bpftrace program that answers one family of questions."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,54}$", description="Unique across packs; the tool in full mode is template_<name>.")
    title: str = Field(
        min_length=3, max_length=120, pattern=r"^[^\r\n]+$", description="One line: what it shows (it heads the program as a comment)."
    )
    description: str = Field(min_length=20, description="Which questions it answers, in plain words.")
    category: str = Field(description="Subsystem: syscalls, scheduler, cpu, files, block, memory, network, processes, functions.")
    tags: list[str] = Field(default_factory=list)
    requires: list[ProbeRequirement] = Field(default_factory=list, description="Probe types and kernel features it needs.")
    filters: list[FilterName] = Field(default_factory=list, description="Common filters it supports.")
    filter_help: dict[FilterName, str] = Field(default_factory=dict, description="What a filter means here, when it differs.")
    outputs: list[OutputMode] = Field(default_factory=lambda: ["count"], min_length=1, description="Output modes; the first is the default.")
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict, description="Its own parameters, in order.")
    body: str = Field(min_length=1, description="The program, in the sandboxed Jinja dialect (see the engine).")
    pack: str = Field("", description="The pack it came from; set by the loader.")
    source: str = Field("", description="Where it was read from, e.g. the TOML file.")

    _all_parameters: dict[str, ParameterSpec] | None = PrivateAttr(None)
    _parameters_model: type[TemplateParameters] | None = PrivateAttr(None)
    _parameters_schema: dict[str, Any] | None = PrivateAttr(None)
    _compiled_body: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"outputs repeat: {self.outputs}")
        common = common_parameters(self.filters, self.outputs, {})
        for name in self.parameters:
            if not IDENTIFIER.match(name) or name.startswith("_"):
                raise ValueError(f"parameter name {name!r} must be an identifier not starting with '_'")
            if name in common or name in HELPER_NAMES or name in {"pid", "comm", "cgroup"}:
                raise ValueError(f"parameter name {name!r} is taken by a common parameter or a helper")
        stray = set(self.filter_help) - set(self.filters)
        if stray:
            raise ValueError(f"filter_help names filters the template does not declare: {sorted(stray)}")
        return self

    def all_parameters(self) -> dict[str, ParameterSpec]:
        """Its own parameters, then the common ones its filters and outputs bring (built once)."""
        if self._all_parameters is None:
            self._all_parameters = {
                **self.parameters, **common_parameters(self.filters, self.outputs, dict(self.filter_help))
            }
        return self._all_parameters

    def parameters_model(self) -> type[TemplateParameters]:
        """The pydantic model callers' parameters are validated with (built once)."""
        if self._parameters_model is None:
            fields: dict[str, Any] = {}
            for name, spec in self.all_parameters().items():
                annotation = KINDS[spec.kind].annotation(spec)
                if spec.optional:
                    annotation = annotation | None
                extra = {"examples": [spec.example]} if spec.example is not None else None
                fields[name] = (
                    annotation,
                    Field(... if spec.required else spec.default, description=spec.schema_description(),
                          json_schema_extra=extra),
                )
            self._parameters_model = create_model(  # type: ignore[call-overload]
                _model_name(self.name), __base__=TemplateParameters, __doc__=self.title, **fields
            )
        return self._parameters_model

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the parameters (built once; callers must not change it)."""
        if self._parameters_schema is None:
            self._parameters_schema = self.parameters_model().model_json_schema()
        return self._parameters_schema

    def compiled_body(self) -> Any:
        """The body compiled by the engine's sandbox (once)."""
        if self._compiled_body is None:
            from mcptrace_core.templates.engine import compile_body  # the engine imports this module

            self._compiled_body = compile_body(self)
        return self._compiled_body

    def example_parameters(self) -> dict[str, Any]:
        """Values for the required parameters, from their examples: enough to render the template."""
        return {name: spec.example for name, spec in self.all_parameters().items() if spec.required}


def _model_name(template_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"_+", template_name)) + "Parameters"
