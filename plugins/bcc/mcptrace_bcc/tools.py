"""The BCC MCP tools: list_bcc_tools and exec_bcc_tool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import Field

from mcptrace_bcc.arguments import ArgumentError, build_invocation
from mcptrace_bcc.backend import BccBackend
from mcptrace_bcc.catalog import BccTool, UnknownToolError
from mcptrace_bcc.discovery import build_names
from mcptrace_bcc.guard import admit
from mcptrace_bcc.schema import ToolKind, ToolOption, ToolPositional
from mcptrace_core.inputs import MaxOverheadPct
from mcptrace_core.models import Model
from mcptrace_core.privilege import PrivilegeError, command_prefix
from mcptrace_core.runs.follow import respond
from mcptrace_core.runs.models import RunLimitError, RunStartError
from mcptrace_core.runs.results import ExecutionResult
from mcptrace_core.safety.models import ValidationReport
from mcptrace_core.safety.text import finding_lines
from mcptrace_core.inputs import RunTimeout, timeout_field
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

ArgumentValue = str | int | float | bool | list[str | int]
OUTPUT_KIND = "bcc"
"""The output analyzer that parses the tools' histograms and tables (analyze_output's 'bcc' kind)."""


def backend_of(call: ToolCall) -> BccBackend:
    backend: BccBackend = call.services.backend("bcc")
    return backend


# -- list_bcc_tools -------------------------------------------------------------------------------


class ListBccToolsInput(ToolInput):
    query: str | None = Field(
        None, max_length=200,
        description="Words that must all appear in a tool's name, description or options, e.g. 'latency disk'.",
    )
    usable_only: bool = Field(False, description="Only tools that were measured to attach on this host.")
    offset: int = Field(0, ge=0, description="Index of the first tool to return.")
    limit: int = Field(50, ge=1, le=500, description="Most tools to return.")


class BccToolInfo(Model):
    name: str = Field(description="The tool_name to pass to exec_bcc_tool.")
    kind: ToolKind
    description: str
    usable_here: bool | None = Field(
        description="Measured by a trial run once per boot; null when it needs arguments to be tried."
    )
    reason: str = Field(description="What the trial saw, e.g. why it cannot run here.")
    fix: str | None = Field(description="What would make it run here, when it cannot.")
    options: list[ToolOption]
    positionals: list[ToolPositional]
    examples: list[str]


class ListBccToolsResult(ToolOutput):
    tools: list[BccToolInfo]
    total: int = Field(description="Tools matching the query (before paging).")
    usable: int = Field(description="Of those, how many attach on this host.")
    offset: int
    has_more: bool
    privilege_problem: str | None = Field(
        None, description="Why no tool can run for this user, with the fix; null when privilege is not the problem."
    )

    def to_text(self) -> str:
        lines = [f"{self.total} BCC tools match, {self.usable} usable here"]
        if self.privilege_problem:
            lines.append(f"none can run yet: {self.privilege_problem}")
        for tool in self.tools:
            state = {True: "usable", False: "NOT usable", None: "untried"}[tool.usable_here]
            lines.append(f"{tool.name} [{tool.kind}, {state}] {tool.description}")
            if tool.usable_here is False:
                lines.append(f"    why: {tool.reason}")
            elif tool.options or tool.positionals:
                names = [o.name for o in tool.options] + [p.name for p in tool.positionals]
                lines.append("    arguments: " + ", ".join(names))
        if self.has_more:
            lines.append(f"[more: offset={self.offset + len(self.tools)}]")
        return "\n".join(lines)


async def list_bcc_tools(call: ToolCall, args: ListBccToolsInput) -> ListBccToolsResult:
    async def progress(done: int, total: int) -> None:
        await call.report_progress(done, total, "learning the installed BCC tools (once per boot)")

    catalog = backend_of(call).catalog
    learned_before = catalog.learned
    tools = await catalog.all(progress)
    if catalog.learned != learned_before:  # the search index takes in what was learned at its next query
        call.services.search.invalidate()
    words = (args.query or "").lower().split()
    matching = [tool for tool in tools if all(word in _searchable(tool) for word in words)]
    if args.usable_only:
        matching = [tool for tool in matching if tool.usability.usable]
    matching.sort(key=lambda tool: ({True: 0, None: 1, False: 2}[tool.usability.usable], tool.name))
    page = matching[args.offset: args.offset + args.limit]
    return ListBccToolsResult(
        tools=[tool_info(tool) for tool in page],
        total=len(matching),
        usable=sum(1 for tool in matching if tool.usability.usable),
        offset=args.offset,
        has_more=args.offset + len(page) < len(matching),
        privilege_problem=_privilege_problem(call),
    )


def _privilege_problem(call: ToolCall) -> str | None:
    try:
        command_prefix(call.services.settings.privilege)
    except PrivilegeError as error:
        return str(error)
    return None


def tool_info(tool: BccTool) -> BccToolInfo:
    return BccToolInfo(
        name=tool.name, kind=tool.file.kind, description=tool.schema.description,
        usable_here=tool.usability.usable, reason=tool.usability.reason, fix=tool.usability.fix,
        options=tool.schema.options, positionals=tool.schema.positionals, examples=tool.schema.examples,
    )


def _searchable(tool: BccTool) -> str:
    schema = tool.schema
    parts = [tool.name, schema.description, schema.manual, *(o.name + " " + o.help for o in schema.options),
             *(p.name + " " + p.help for p in schema.positionals)]
    return " ".join(parts).lower()


# -- exec_bcc_tool --------------------------------------------------------------------------------


class ExecBccToolInput(ToolInput):
    tool_name: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$",
        description="The tool, e.g. 'execsnoop', 'runqlat', 'opensnoop-bpfcc'; list_bcc_tools lists them.",
    )
    arguments: dict[str, ArgumentValue] = Field(
        default_factory=dict,
        description=(
            "The tool's options and positional arguments by name, e.g. {\"pid\": 42, \"timestamp\": true} or "
            "{\"name\": \"bash\"}. Keys: an option's long name without dashes ('pid'), its flag ('-p', '--pid') "
            "or a positional's name ('interval'). Flags take true/false; a list repeats an option."
        ),
    )
    timeout_s: RunTimeout = timeout_field(
        "How long to trace, in seconds. Given to the tool as its duration (or interval and count) where it has "
        "one, so it ends with its summary."
    )
    wait: bool = Field(
        False,
        description="Return when the run ends, streaming new lines as progress notifications meanwhile. "
        "Otherwise return at once with the execution_id; read on with get_result.",
    )
    confirm: bool = Field(
        False,
        description="Set true only when the user has approved this exact run in the conversation. It counts as "
        "confirmation only where the safety policy says so (permissive); otherwise the user is asked through the "
        "client (tools that capture typed or decrypted content, or compile C from their arguments).",
    )
    max_overhead_pct: float | None = MaxOverheadPct


class BccExecution(ExecutionResult):
    tool: str = Field(description="The tool that runs.")
    command: list[str] = Field(description="Its arguments as passed (never through a shell).")
    derived_arguments: dict[str, int] = Field(description="Arguments filled in from timeout_s, e.g. duration.")
    validation: ValidationReport = Field(description="The safety verdict and findings the run was admitted with.")

    def to_text(self) -> str:
        findings = finding_lines(self.validation.findings, with_fix=False)
        return "\n".join([*findings, f"{self.tool} {' '.join(self.command)}", super().to_text()])


async def exec_bcc_tool(call: ToolCall, args: ExecBccToolInput) -> BccExecution:
    return await run_tool(
        call, args.tool_name, args.arguments, args.timeout_s, args.wait, args.confirm, args.max_overhead_pct
    )


async def run_tool(
    call: ToolCall, name: str, arguments: Mapping[str, Any], timeout: float | None, wait: bool, confirm: bool,
    max_overhead_pct: float | None = None,
) -> BccExecution:
    """Check, decide and start one tool run: shared by exec_bcc_tool and the per-tool tools."""
    backend = backend_of(call)
    try:
        timeout_s = call.services.runs.timeout_for(timeout)
        tool = await backend.catalog.tool(name)
    except (UnknownToolError, RunLimitError) as error:
        raise ToolError(str(error)) from None
    if tool.usability.usable is False:
        raise ToolError(f"{tool.name} cannot run on this host: {tool.usability.reason}"
                        + (f". Fix: {tool.usability.fix}" if tool.usability.fix else "")
                        + await _alternative(backend, tool))
    try:
        invocation = build_invocation(tool.name, tool.schema, arguments, timeout_s)
    except ArgumentError as error:
        raise ToolError(f"invalid arguments for {tool.name}: {error}") from None
    longest = call.services.settings.runs.max_timeout_s
    if invocation.ends_after_s is not None and invocation.ends_after_s > longest:  # its own end is a timeout too
        raise ToolError(f"invalid arguments for {tool.name}: it would run for {invocation.ends_after_s:g} s by itself "
                        f"(its duration, or interval x count), over the maximum of {longest:g} s (runs.max_timeout_s)")
    decision, report = await admit(call, tool, arguments, invocation, timeout_s, confirm)
    analyzer = call.services.registry.get("analyzer", OUTPUT_KIND)
    spec = replace(backend.run_spec(tool, invocation, timeout_s, analyzer), confirmed_by=decision.confirmed_by,
                   budget=decision.budget_for(max_overhead_pct))
    try:
        run = await call.services.runs.start(spec)
    except (PrivilegeError, RunLimitError, RunStartError) as error:
        raise ToolError(str(error)) from None
    result = await respond(call, run, wait)
    return BccExecution(**dict(result), tool=tool.name, command=invocation.argv,
                        derived_arguments=invocation.derived, validation=report)


async def _alternative(backend: BccBackend, tool: BccTool) -> str:
    """Point to the other build of the same tool when that one runs here."""
    files = backend.catalog.files()
    for twin in build_names(tool.name):
        if twin != tool.name and twin in files and (await backend.catalog.tool(twin)).usability.usable:
            return f". {twin!r} does the same and runs here: use tool_name={twin!r}."
    return ". list_bcc_tools with usable_only=true lists the tools that do."


def tool_specs() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_bcc_tools",
            title="List the BCC tools installed here",
            description=(
                "List the BCC tools installed on this host (libbpf CO-RE tools and Python BCC tools) with their "
                "description, options and whether each runs HERE (measured by a trial once per boot; if not, "
                "why and the fix). Filter by words; usable tools first. The first call of a boot may take ~30 s."
            ),
            input_model=ListBccToolsInput,
            output_model=ListBccToolsResult,
            handler=list_bcc_tools,
            idempotent=False,
        ),
        ToolSpec(
            name="exec_bcc_tool",
            title="Run a BCC tool",
            description=(
                "Run an installed BCC tool (execsnoop, opensnoop, runqlat, syscount, biolatency, ...) with "
                "arguments checked against its options; returns an execution_id at once (or, with wait=true, "
                "the end). get_result pages its output with tables parsed into rows and histograms into "
                "buckets; stop_execution stops it (Ctrl-C, so it prints its summary)."
            ),
            input_model=ExecBccToolInput,
            output_model=BccExecution,
            handler=exec_bcc_tool,
            read_only=False,
            idempotent=False,
        ),
    ]
