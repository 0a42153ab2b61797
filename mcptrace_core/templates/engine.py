"""Render a template: validate the parameters, pre-render each by its kind, run the sandboxed body.

The body is Jinja in a SandboxedEnvironment (no access to Python internals) with StrictUndefined (a
misspelt name is an error, not an empty string) and autoescape off: there is nothing to escape because
the body never sees caller text, only values already rendered as safe bpftrace by their kind.

Composition helpers let one body serve many questions:

- ``when(*conditions, pid="pid", comm="comm", filtered=True)`` renders the predicate: the body's own
  conditions and the common filters the caller set (pid, comm, cgroup), or nothing at all;
- ``matches(...)`` is the same as an expression for ``if (...)`` (``1`` when there is nothing to test);
- ``aggregate(map, key, value)`` records into a result map with the chosen output (count, sum, hist,
  stats); a body branches on ``output == "printf"`` for per-event lines;
- ``scaled(expression, unit)`` divides a nanosecond expression into us, ms or s;
- ``finish(*scratch_maps)`` ends the program: the time series (interval_s), the top-N cut, the
  duration and the clearing of scratch maps so that only results are printed. Every body calls it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mcptrace_core.templates.kinds import KINDS
from mcptrace_core.templates.literals import TIME_UNITS_NS
from mcptrace_core.templates.model import AGGREGATE_OUTPUTS, Template
from mcptrace_core.tools import describe_fields

if TYPE_CHECKING:
    from jinja2 import Template as JinjaTemplate
    from jinja2.sandbox import SandboxedEnvironment

MAP_NAME = re.compile(r"^@[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(Exception):
    """The template itself is broken (its author's mistake, not the caller's)."""


class TemplateParameterError(ValueError):
    """The caller's parameters do not fit the template; the message names each and what is allowed."""


@dataclass(frozen=True)
class RenderedProgram:
    template: str
    program: str
    probes: list[str]
    parameters: dict[str, Any]
    """Every parameter after validation, defaults included, in a form that validates to itself again."""


@functools.cache
def environment() -> SandboxedEnvironment:
    """The one sandbox all bodies render in (jinja2 is imported here, on first render, not at start-up)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )


def compile_body(template: Template) -> JinjaTemplate:
    """The template's body compiled in the sandbox (``Template.compiled_body`` keeps it)."""
    from jinja2 import TemplateSyntaxError

    try:
        return environment().from_string(template.body)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template {template.name}: body line {error.lineno}: {error.message}") from None


def render(template: Template, parameters: Mapping[str, Any]) -> RenderedProgram:
    """The program for these parameters; TemplateParameterError when they do not fit."""
    model = template.parameters_model()
    try:
        validated = model.model_validate(dict(parameters))
    except ValidationError as error:
        raise TemplateParameterError(
            f"invalid parameters for template {template.name}: "
            + describe_fields(model, error, noun="parameter", prefix="parameters.")
        ) from None
    values = validated.model_dump(mode="json")
    specs = template.all_parameters()
    context: dict[str, Any] = {
        name: None if values[name] is None else KINDS[spec.kind].render(values[name], spec) for name, spec in specs.items()
    }
    output = values.get("output") or template.outputs[0]
    _check_output_options(template, output, values)
    composer = Composer(
        output=output,
        filters={name: context[name] for name in ("pid", "comm", "cgroup") if context.get(name) is not None},
        interval_s=values.get("interval_s"),
        top=values.get("top"),
        duration_s=values.get("duration_s"),
    )
    context.update(
        output=output, when=composer.when, matches=composer.matches, aggregate=composer.aggregate,
        finish=composer.finish, scaled=scaled,
    )
    from jinja2 import TemplateError as JinjaError  # its SecurityError and UndefinedError included

    try:
        text = template.compiled_body().render(context)
    except (JinjaError, TemplateError, TypeError) as error:  # TypeError: a helper called with wrong arguments
        raise TemplateError(f"template {template.name} failed to render: {error}") from None
    if not composer.finished:
        raise TemplateError(f"template {template.name}: its body never calls finish()")
    program = f"// {template.title} (mcptrace template {template.name})\n" + tidy(text)
    return RenderedProgram(template.name, program, _attached(template, program), values)


def _attached(template: Template, program: str) -> list[str]:
    """The probes the program attaches, read by the program parser; a body that renders something the
    parser refuses is the template's bug."""
    from mcptrace_core.program.memo import attach_points
    from mcptrace_core.program.parser import ProgramSyntaxError

    try:
        return [spec.text for spec in attach_points(program)]
    except ProgramSyntaxError as error:
        raise TemplateError(f"template {template.name} rendered a program that does not parse: {error}") from None


def _check_output_options(template: Template, output: str, values: Mapping[str, Any]) -> None:
    if output in AGGREGATE_OUTPUTS:
        return
    misplaced = [name for name in ("interval_s", "top") if values.get(name) is not None]
    if misplaced:
        maps = ", ".join(mode for mode in template.outputs if mode in AGGREGATE_OUTPUTS) or "none here"
        raise TemplateParameterError(
            f"invalid parameters for template {template.name}: {' and '.join(misplaced)} "
            f"{'apply' if len(misplaced) > 1 else 'applies'} to map outputs "
            f"({maps}), not to output={output!r}"
        )


@dataclass
class Composer:
    """The helpers one render offers its body; they remember the result maps for finish()."""

    output: str
    filters: dict[str, Any]
    interval_s: int | None
    top: int | None
    duration_s: int | None
    maps: list[str] = field(default_factory=list)
    finished: bool = False

    def when(self, *conditions: str, pid: str = "pid", comm: str = "comm", filtered: bool = True) -> str:
        """The predicate ``/a && b/`` from the body's conditions and the caller's filters; '' when none."""
        parts = self._conditions(conditions, pid, comm, filtered)
        return f"/{' && '.join(parts)}/" if parts else ""

    def matches(self, *conditions: str, pid: str = "pid", comm: str = "comm", filtered: bool = True) -> str:
        """The same conditions as an expression for ``if (...)``; ``1`` when there are none."""
        return " && ".join(self._conditions(conditions, pid, comm, filtered)) or "1"

    def _conditions(self, conditions: tuple[str, ...], pid: str, comm: str, filtered: bool) -> list[str]:
        parts = [f"({condition})" for condition in conditions if condition]
        if filtered:
            if "pid" in self.filters:
                parts.append(f"{pid} == {self.filters['pid']}")
            if "comm" in self.filters:
                parts.append(f"{comm} == {self.filters['comm']}")
            if "cgroup" in self.filters:
                parts.append(f"cgroup == {self.filters['cgroup']}")
        return parts

    def aggregate(self, map_name: str, key: str = "", value: str | None = None) -> str:
        """``@map[key] = fn(value);`` for the chosen output."""
        if not MAP_NAME.match(map_name):
            raise TemplateError(f"aggregate(): {map_name!r} is not a map name like @bytes")
        if self.output not in AGGREGATE_OUTPUTS:
            raise TemplateError(f"aggregate() called for output {self.output!r}: branch on output in the body")
        if self.output != "count" and not value:
            raise TemplateError(f"aggregate({map_name}) needs a value for output {self.output!r}")
        if map_name not in self.maps:
            self.maps.append(map_name)
        function = "count()" if self.output == "count" else f"{self.output}({value})"
        target = f"{map_name}[{key}]" if key else map_name
        return f"{target} = {function};"

    def finish(self, *scratch: str) -> str:
        """The end of the program: time series, duration, top-N cut and scratch maps cleared at END."""
        bad = [name for name in scratch if not MAP_NAME.match(name)]
        if bad:
            raise TemplateError(f"finish(): {bad} are not map names")
        self.finished = True
        blocks = []
        limit = f", {self.top}" if self.top else ""
        if self.interval_s and self.maps:
            lines = ['  time("%H:%M:%S\\n");'] + [f"  print({name}{limit});\n  clear({name});" for name in self.maps]
            blocks.append(f"interval:s:{self.interval_s}\n{{\n" + "\n".join(lines) + "\n}")
        if self.duration_s:
            blocks.append(f"interval:s:{self.duration_s}\n{{\n  exit();\n}}")
        end = [f"  clear({name});" for name in scratch]
        if self.top:
            end += [f"  print({name}{limit});\n  clear({name});" for name in self.maps]
        if end:
            blocks.append("END\n{\n" + "\n".join(end) + "\n}")
        return "\n\n".join(blocks)


def scaled(expression: str, unit: str) -> str:
    """A nanosecond expression in ``unit`` (ns, us, ms, s): ``$ns / 1000`` for us."""
    divisor = TIME_UNITS_NS.get(unit)
    if divisor is None:
        raise TemplateError(f"scaled(): unknown unit {unit!r}")
    return expression if divisor == 1 else f"{expression} / {divisor}"


_BLANK_RUNS = re.compile(r"\n{3,}")
_BLANK_BEFORE_BRACE = re.compile(r"\n\s*\n(?=\{)")


def tidy(text: str) -> str:
    """Trailing spaces off, no blank line where an empty predicate was, at most one blank line in a row."""
    text = "\n".join(line.rstrip() for line in text.strip().splitlines())
    text = _BLANK_BEFORE_BRACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text) + "\n"
