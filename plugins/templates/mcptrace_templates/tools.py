"""The template tools: list_templates, generate_from_template and, in full exposure, template_<name>.

Generating never runs anything: the program comes back with its probes and validate_program's report
on it (parse, compile here, probes, safety policy, cost), and the caller runs it with exec_program, the
one way programs start (limits and safety policy included).

The template machinery (``mcptrace_core.templates``) is imported on the first call, not with this
module: the server imports every plugin at start, and only the tools' input and output models are
needed to list them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from mcptrace_core.inputs import PatternText
from mcptrace_core.models import Model
from mcptrace_core.safety.models import ValidationReport
from mcptrace_core.safety.text import report_text
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

from mcptrace_bpftrace.guard import check as validate_program

if TYPE_CHECKING:
    from mcptrace_core.search.capability import Capability
    from mcptrace_core.search.host import Availability
    from mcptrace_core.templates.catalog import TemplateCatalog
    from mcptrace_core.templates.model import Template, TemplateParameters

TEMPLATE_NAME = r"^[a-z][a-z0-9_]{1,54}$"


# -- list_templates -------------------------------------------------------------------------------


class ListTemplatesInput(ToolInput):
    query: PatternText | None = Field(
        None,
        description="Words to filter by, matched against names, titles, tags, categories and descriptions, e.g. "
        "'disk latency' or 'tcp'. All templates when omitted (find_capabilities searches by meaning).",
    )


class TemplateInfo(Model):
    name: str = Field(description="Pass as template_name to generate_from_template.")
    title: str
    description: str
    category: str
    tags: list[str]
    outputs: list[str] = Field(description="Output modes (parameter output); the first is the default.")
    filters: list[str] = Field(description="Common filters it takes: pid, comm, cgroup.")
    requires: list[str] = Field(description="Probe types and kernel features it needs.")
    usable_here: bool = Field(
        description="Whether it can run HERE with its example parameters: its probe types, probes and kernel "
        "features are all available (the same judgement as search_examples and find_capabilities)."
    )
    missing: list[str] = Field(description="What this host lacks for it, e.g. 'probe type kprobe'.")
    required: list[str] = Field(description="Parameters without a default: they must be given.")
    parameters: dict[str, Any] = Field(description="JSON schema of its parameters object.")
    pack: str = Field(description="The template pack it comes from.")


class ListTemplatesResult(ToolOutput):
    templates: list[TemplateInfo]
    total: int = Field(description="Templates known in all, before the query.")
    problems: list[str] = Field(description="Templates or packs that could not be loaded, and why.")

    def to_text(self) -> str:
        lines = [f"{len(self.templates)} of {self.total} templates"]
        for info in self.templates:
            params = ", ".join(name + ("*" if name in info.required else "") for name in info.parameters["properties"])
            note = "" if info.usable_here else f"  [not usable here: {', '.join(info.missing)}]"
            lines.append(f"{info.name}: {info.title}{note}")
            lines.append(f"    outputs: {'/'.join(info.outputs)}; parameters (* = required): {params}")
        lines += [f"problem: {problem}" for problem in self.problems]
        lines.append("generate one with generate_from_template(template_name, parameters)")
        return "\n".join(lines)


async def list_templates(call: ToolCall, args: ListTemplatesInput) -> ListTemplatesResult:
    from mcptrace_core.search import host
    from mcptrace_core.templates.catalog import TemplateCatalog, template_capability

    catalog = TemplateCatalog.from_registry(call.services.registry)
    capabilities = [template_capability(template) for template in catalog.search(args.query)]
    here = await host.gather(call.services, [probe for capability in capabilities for probe in capability.probes])
    return ListTemplatesResult(
        templates=[template_info(capability, here.availability(capability)) for capability in capabilities],
        total=len(catalog.templates),
        problems=catalog.problems,
    )


def template_info(capability: Capability, availability: Availability) -> TemplateInfo:
    template: Template = capability.item
    return TemplateInfo(
        name=template.name, title=template.title, description=template.description, category=template.category,
        tags=list(template.tags), outputs=list(template.outputs), filters=list(template.filters),
        requires=list(template.requires), usable_here=availability.runnable, missing=list(availability.missing),
        required=[name for name, spec in template.all_parameters().items() if spec.required],
        parameters=template.parameters_schema(), pack=template.pack,
    )


# -- generate_from_template -----------------------------------------------------------------------


class GenerateInput(ToolInput):
    template_name: str = Field(pattern=TEMPLATE_NAME, description="A template from list_templates, e.g. 'syscall_latency'.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The template's parameters as a JSON object, e.g. {\"syscall\": \"openat\", \"comm\": \"nginx\"}; "
        "list_templates gives each template's schema. Left-out parameters take their defaults.",
    )
    check: bool = Field(
        True,
        description="Validate the program as validate_program does (compiles here, probes, safety policy; "
        "attaches nothing). false skips it.",
    )


class GenerateResult(ToolOutput):
    template: str
    program: str = Field(description="The bpftrace program; run it with exec_program.")
    probes: list[str] = Field(description="The probe specs it attaches.")
    parameters: dict[str, Any] = Field(
        description="Every parameter after validation, defaults included; they can be sent back as they are."
    )
    validation: ValidationReport | None = Field(
        description="validate_program's report on the program here (errors, verdict, findings, cost); "
        "null when check=false."
    )
    next_step: str

    def to_text(self) -> str:
        return f"{self.program.rstrip()}\n\n{self.report_text()}"

    def report_text(self) -> str:
        """What is known about the program besides its text: probes, validation, what to do next."""
        lines = ["probes: " + ", ".join(self.probes)]
        lines.append("not validated (check=false)" if self.validation is None else report_text(self.validation))
        lines.append(self.next_step)
        return "\n".join(lines)


async def generate_from_template(call: ToolCall, args: GenerateInput) -> GenerateResult:
    return await generate(call, args.template_name, args.parameters, args.check)


async def generate(call: ToolCall, template_name: str, parameters: dict[str, Any], check: bool) -> GenerateResult:
    """Render a template, then validate the program as validate_program does (the server's policy)."""
    from mcptrace_core.templates.catalog import TemplateCatalog, UnknownTemplateError
    from mcptrace_core.templates.engine import TemplateError, TemplateParameterError, render

    catalog = TemplateCatalog.from_registry(call.services.registry)
    try:
        rendered = render(catalog.get(template_name), parameters)
    except (UnknownTemplateError, TemplateParameterError) as error:
        raise ToolError(str(error)) from None
    except TemplateError as error:
        raise ToolError(f"{error} (a bug in the template: report it to its pack)") from None
    call.services.sources.remember_template(rendered.program, rendered.template)  # the history names it
    validation = (await validate_program(call, rendered.program, None, None)).report if check else None
    return GenerateResult(
        template=rendered.template, program=rendered.program, probes=rendered.probes,
        parameters=rendered.parameters, validation=validation, next_step=next_step(validation),
    )


def next_step(validation: ValidationReport | None) -> str:
    if validation is None or (validation.valid and validation.verdict == "allow"):
        return "run it with exec_program(program=...), then read it with get_result"
    if not validation.valid:
        return "fix the parameters named in the errors (list_probes finds real probe names) and generate again"
    if validation.verdict == "block":
        return "the safety policy blocks this program (see the findings): choose other parameters"
    return (
        "run it with exec_program(program=...): the safety policy asks the user to confirm it first "
        "(see the findings)"
    )


# -- the specs ------------------------------------------------------------------------------------


def tool_specs() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_templates",
            title="List program templates",
            description=(
                "List the bpftrace program templates: typed, validated patterns for common questions (syscall "
                "counts and latency, function latency, CPU profiles, off-CPU and run-queue time, block I/O, file "
                "opens, exec, TCP, page faults, OOM kills, signals, packets...), each with its parameter schema, "
                "output modes and whether it works on this host. Optional words filter the list."
            ),
            input_model=ListTemplatesInput,
            output_model=ListTemplatesResult,
            handler=list_templates,
        ),
        ToolSpec(
            name="generate_from_template",
            title="Generate a program from a template",
            description=(
                "Generate a bpftrace program from a template and typed parameters (checked by kind: pids, command "
                "names, cgroups, thresholds with units, probe patterns, binaries; never pasted raw into code), "
                "with common filters (pid, comm, cgroup) and outputs (count, sum, hist, stats, printf, a time "
                "series with interval_s, top). Returns the program, its probes and validate_program's report on "
                "it here (errors with hints, safety verdict and findings, cost); it does not run it: pass the "
                "program to exec_program."
            ),
            input_model=GenerateInput,
            output_model=GenerateResult,
            handler=generate_from_template,
        ),
    ]


def template_tools(catalog: TemplateCatalog) -> list[ToolSpec]:
    """One tool per template (full exposure): its parameters are the tool's flat input schema."""
    return [_template_tool(template) for template in sorted(catalog.templates.values(), key=lambda t: t.name)]


def _template_tool(template: Template) -> ToolSpec:
    async def handler(call: ToolCall, args: TemplateParameters) -> GenerateResult:
        return await generate(call, template.name, args.model_dump(mode="json", exclude_unset=True), check=True)

    return ToolSpec(
        name=f"template_{template.name}",
        title=template.title,
        description=f"{template.description} Generates the program and validates it here; it does not run "
        "it: pass the program to exec_program.",
        input_model=template.parameters_model(),
        output_model=GenerateResult,
        handler=handler,
    )
