"""The fleet's side of the run tools: ``hosts`` on each, and the handlers of the calls that use it.

Registered as tool extensions (mcptrace_core.extensions): a call with ``hosts``, or with the
execution id of a fleet run, comes here; every other call goes to the tool's own handler untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from pydantic import Field

from mcptrace_core.extensions import ToolExtension, base_input
from mcptrace_core.runs.results import execution_summary
from mcptrace_core.runs.tools import STOP_TAIL_LINES
from mcptrace_core.tools import ToolCall, ToolError, ToolOutput, ToolSpec

from mcptrace_fleet.compare import FleetComparison, compare_hosts
from mcptrace_fleet.facts import HostFactsReport, fleet_facts
from mcptrace_fleet.fleetrun import FLEET_PREFIX
from mcptrace_fleet.results import FLEET_FIELD, final_page, fleet_execution, fleet_report, fleet_text
from mcptrace_fleet.state import FleetState

HOST_PATTERN = r"^!?[A-Za-z0-9_.:@%+*?\[\]/-]{1,253}$"
HostTerm = Annotated[str, Field(pattern=HOST_PATTERN)]
HOSTS_FIELD = (
    list[HostTerm] | None,
    Field(
        None, min_length=1, max_length=100,
        description=(
            "Run on these hosts of the fleet over SSH instead of here: host names, group names of the inventory, "
            "shell patterns ('web*'), 'all', '!name' to leave out. With the execution_id of a fleet run and one "
            "host name: that host's own lines (get_result)."
        ),
    ),
)
RUN_TOOLS = ("exec_program", "exec_bcc_tool", "get_result", "stop_execution")
STARTS = {"exec_program", "exec_bcc_tool"}


def _claims(call: ToolCall, tool: str, args: Any) -> bool:
    if getattr(args, "hosts", None) is not None:
        return True
    execution_id = getattr(args, "execution_id", None)
    return isinstance(execution_id, str) and execution_id.startswith(FLEET_PREFIX)


class FleetTools:
    """The handlers, bound to one server's fleet state."""

    def __init__(self, state: FleetState) -> None:
        self.state = state

    async def runs(self, call: ToolCall, spec: ToolSpec, args: Any, output_model: type[ToolOutput]) -> ToolOutput:
        from mcptrace_fleet.runs import start_bcc_tool, start_program

        if spec.name in STARTS:
            starter = start_program if spec.name == "exec_program" else start_bcc_tool
            run = await starter(call, self.state, args)
            first = fleet_execution(run, 0, 200)
            extra: dict[str, Any] = {"validation": run.validation}  # type: ignore[attr-defined]
            if spec.name == "exec_bcc_tool":
                name, argv, derived = run.bcc  # type: ignore[attr-defined]
                extra.update(tool=name, command=argv, derived_arguments=derived)
            report = fleet_report(run, run.hosts if final_page(run, first) else ())
            return output_model(**first.model_dump(), **extra, fleet=report)
        if args.execution_id is None or not args.execution_id.startswith(FLEET_PREFIX):
            raise ToolError(f"hosts: execution {args.execution_id!r} is not a fleet run; leave hosts out for a local run")
        if spec.name == "get_result" and self.state.book.get(args.execution_id) is None:
            return await spec.handler(call, base_input(spec, args))  # a run of an earlier server: the history's
        run = self.state.run(args.execution_id)
        if spec.name == "stop_execution":
            await run.stop()
            tail = max(0, run.output.total - STOP_TAIL_LINES)
            stopped = fleet_execution(run, tail, STOP_TAIL_LINES)
            return output_model(execution=stopped, fleet=fleet_report(run, run.hosts))
        if args.wait_s and args.offset >= run.output.total and not run.status.finished:
            await run.wait_changed(args.wait_s)
        page = fleet_execution(run, args.offset, args.limit, args.hosts)
        if args.hosts:
            named: Collection[str] = set(args.hosts) & set(run.hosts)
        else:
            named = run.hosts if final_page(run, page) else ()
        return output_model(**page.model_dump(), fleet=fleet_report(run, named))

    async def listing(self, call: ToolCall, spec: ToolSpec, args: Any, output_model: type[ToolOutput]) -> ToolOutput:
        """The local runs and this server's fleet runs, newest first, with the same status filter."""
        local = await spec.handler(call, base_input(spec, args))
        fleet = [execution_summary(run) for run in self.state.book.runs()  # type: ignore[arg-type]
                 if args.status is None or run.status.value == args.status]
        executions = sorted([*local.executions, *fleet], key=lambda summary: summary.started_at, reverse=True)  # type: ignore[attr-defined]
        return output_model(executions=executions)

    async def info(self, call: ToolCall, spec: ToolSpec, args: Any, output_model: type[ToolOutput]) -> ToolOutput:
        hosts = self.state.select(args.hosts)
        local = await spec.handler(call, base_input(spec, args))
        facts = await fleet_facts(hosts, self.state.files, call.services.settings.fleet)
        return output_model(**local.model_dump(), fleet_hosts=facts)

    async def validate(self, call: ToolCall, spec: ToolSpec, args: Any, output_model: type[ToolOutput]) -> ToolOutput:
        from mcptrace_fleet.validate import validate_on_fleet

        return await validate_on_fleet(call, self.state, spec, args, output_model)

    async def analyze(self, call: ToolCall, spec: ToolSpec, args: Any, output_model: type[ToolOutput]) -> ToolOutput:
        from mcptrace_bpftrace.jsonout import render_map

        if args.execution_id is None or not args.execution_id.startswith(FLEET_PREFIX):
            raise ToolError("hosts: analyze_output compares the hosts of a fleet run: give its execution_id")
        run = self.state.run(args.execution_id)
        merged, _ = run.merged()
        text = "\n".join(line for trace_map in merged for line in [*render_map(trace_map), ""])
        if not text.strip():
            text = "\n".join(run.output.page(0, max(1, run.output.total)).lines) or "(no output)"
        base = await spec.handler(call, base_input(spec, args, execution_id=None, output=text))
        failed = {h.host.name: h.error or "failed" for h in run.failed_hosts}
        comparison: FleetComparison = compare_hosts(
            {name: h.maps for name, h in run.hosts.items() if h.status.value != "failed"}, run.launch.functions, failed)
        data = base.model_dump()
        data.update(source=f"fleet run {run.id} ({len(run.hosts)} hosts, maps merged)",
                    summary=data["summary"] + "\nhosts: " + comparison.summary)
        result = output_model(**data, fleet_comparison=comparison)
        result._png = getattr(base, "_png", None)  # type: ignore[attr-defined]
        return result


def _fleet_text(output: Any, own_text: str) -> str:
    """The tool's own text, then one line per host of a fleet run."""
    fleet = getattr(output, "fleet", None)
    return own_text + "\n" + fleet_text(fleet) if fleet is not None else own_text


def extensions(state: FleetState) -> list[ToolExtension]:
    tools = FleetTools(state)
    hosts_only = {"hosts": HOSTS_FIELD}
    return [
        ToolExtension(name="fleet-runs", tools=RUN_TOOLS, input_fields=hosts_only, claims=_claims,
                      handler=tools.runs, output_fields={"fleet": FLEET_FIELD}, output_text=_fleet_text,
                      aclose=state.book.shutdown),
        ToolExtension(name="fleet-list", tools=("list_executions",), input_fields={},
                      claims=lambda call, tool, args: bool(state.book.runs()), handler=tools.listing),
        ToolExtension(name="fleet-info", tools=("bpf_info",), input_fields=hosts_only, claims=_claims,
                      handler=tools.info, output_fields={"fleet_hosts": (
                          list[HostFactsReport] | None,
                          Field(None, description="Each host of the fleet (hosts given): reachable, kernel, bpftrace."))}),
        ToolExtension(name="fleet-validate", tools=("validate_program",), input_fields=hosts_only, claims=_claims,
                      handler=tools.validate, output_fields={"fleet_checks": _validate_field()}),
        ToolExtension(name="fleet-analyze", tools=("analyze_output",), input_fields={}, claims=_claims,
                      handler=tools.analyze, output_fields={"fleet_comparison": (
                          FleetComparison | None,
                          Field(None, description="A fleet run: each map's number per host and the outliers."))}),
    ]


def _validate_field() -> tuple[Any, Any]:
    from mcptrace_fleet.validate import FleetCheck

    return (list[FleetCheck] | None,
            Field(None, description="Each distinct bpftrace version and kernel of the hosts, checked once there."))
