"""Fleet runs started by exec_program and exec_bcc_tool with ``hosts``.

The program goes through the same gate as a local run (validation on this server, the safety policy,
confirmation, audit), then out to every host. What a host runs is fixed here: the configured remote
bpftrace with -f json (and --unsafe only when the gate allowed it), or the same BCC tool path with
the argv the BCC backend built from checked arguments.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mcptrace_core.privilege import PrivilegeError, command_prefix
from mcptrace_core.runs.models import RunLimitError
from mcptrace_core.tools import ToolCall, ToolError

from mcptrace_fleet.fleetrun import FleetRun, Launch
from mcptrace_fleet.merge import map_functions, rewrite_avg
from mcptrace_fleet.state import FleetState

ATTACH_WAIT_S = 60.0
"""exec returns once every host attached or ended, or after this long (runs go on either way)."""


async def start_program(call: ToolCall, state: FleetState, args: Any) -> FleetRun:
    from mcptrace_bpftrace.backend import grace_period
    from mcptrace_bpftrace.guard import admit, check
    from mcptrace_bpftrace.jsonout import JsonOutputDecoder
    from mcptrace_bpftrace.limits import limits_env
    from mcptrace_bpftrace.stderr import HostFacts, keep_line, parse_errors
    from mcptrace_core.runs.models import RunSpec, program_label

    hosts = state.select(args.hosts)
    checked = await check(call, args.program, args.timeout_s, args.safety_level)
    decision = await admit(call, checked, args.confirm)
    program = rewrite_avg(checked.program)
    facts = HostFacts(kprobes_usable=True)  # unknown for a remote host: do not blame kprobes on its errors

    def spec() -> RunSpec:
        return RunSpec(
            argv=[], backend="bpftrace", label=program_label(checked.program), timeout_s=checked.timeout_s,
            decoder=JsonOutputDecoder(), stderr_filter=keep_line, grace_s=grace_period, program=checked.program,
            explain=lambda stderr, exit_code: parse_errors(stderr, exit_code, facts),
            source=checked.source, validation=checked.report.summary(),
        )

    argv = [call.services.settings.fleet.remote_bpftrace, "-f", "json"] + (["--unsafe"] if decision.use_unsafe else [])
    launch = Launch(argv=argv, program=program, env=limits_env(decision.limits), spec_for_host=spec,
                    functions=map_functions(program))
    run = state.launch(hosts, launch, call.services.history)
    run.validation = checked.report  # type: ignore[attr-defined]
    await run.wait_attached(ATTACH_WAIT_S)
    if args.wait:
        await run.wait_done()
    return run


async def start_bcc_tool(call: ToolCall, state: FleetState, args: Any) -> FleetRun:
    """A BCC tool on every host: argv built and checked here exactly as for a local run."""
    from mcptrace_bcc.arguments import ArgumentError, build_invocation
    from mcptrace_bcc.catalog import UnknownToolError
    from mcptrace_bcc.guard import admit
    from mcptrace_bcc.tools import OUTPUT_KIND, backend_of

    hosts = state.select(args.hosts)
    backend = backend_of(call)
    try:
        timeout_s = call.services.runs.timeout_for(args.timeout_s)
        tool = await backend.catalog.tool(args.tool_name)
        invocation = build_invocation(tool.name, tool.schema, args.arguments, timeout_s)
    except (UnknownToolError, RunLimitError) as error:
        raise ToolError(str(error)) from None
    except ArgumentError as error:
        raise ToolError(f"invalid arguments for {args.tool_name}: {error}") from None
    _, report = await admit(call, tool, args.arguments, invocation, timeout_s, args.confirm)
    analyzer = call.services.registry.get("analyzer", OUTPUT_KIND)

    def spec() -> Any:
        local = backend.run_spec(tool, invocation, timeout_s, analyzer)
        return replace(local, argv=[])

    try:
        local_argv = backend.run_spec(tool, invocation, timeout_s, analyzer).argv
        argv = local_argv[len(command_prefix(call.services.settings.privilege)):]  # sudo -n is added per host
    except PrivilegeError as error:
        raise ToolError(str(error)) from None
    launch = Launch(argv=argv, program=None, env={}, spec_for_host=spec, functions={})
    run = state.launch(hosts, launch, call.services.history)
    run.validation = report  # type: ignore[attr-defined]
    run.bcc = (tool.name, invocation.argv, invocation.derived)  # type: ignore[attr-defined]
    await run.wait_attached(min(ATTACH_WAIT_S, timeout_s))
    if args.wait:
        await run.wait_done()
    return run
