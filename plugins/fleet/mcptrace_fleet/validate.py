"""validate_program on a fleet: checked here once (parse, policy), then compiled once per distinct
bpftrace version and kernel among the hosts, on one host of each. The verdict is the strictest.

A compile check runs the program through the same remote wrapper as a run: bpftrace before 0.18
with ``-d`` (parse and semantic analysis, nothing attached), later versions with ``--dry-run`` (which
loads the programs, so the kernel verifier has its say too).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import Field

from mcptrace_core.extensions import base_input
from mcptrace_core.models import Model, TraceError
from mcptrace_core.runs.models import PlainTextDecoder, RunSpec
from mcptrace_core.tools import ToolCall, ToolOutput, ToolSpec

from mcptrace_fleet.facts import fleet_facts
from mcptrace_fleet.fleetrun import Launch
from mcptrace_fleet.inventory import Host
from mcptrace_fleet.merge import rewrite_avg
from mcptrace_fleet.state import FleetState

CHECK_TIMEOUT_S = 120.0
VERDICTS = ["allow", "confirm", "block"]


class FleetCheck(Model):
    bpftrace: str | None
    kernel: str | None
    hosts: list[str] = Field(description="The hosts with this bpftrace and kernel.")
    checked_on: str | None = Field(description="The host the compile check ran on; None when none was reachable.")
    ok: bool
    errors: list[TraceError] = Field(default_factory=list)


def check_flag(version_text: str | None) -> str:
    match = re.search(r"v?(\d+)\.(\d+)", version_text or "")
    if match and (int(match.group(1)), int(match.group(2))) < (0, 18):
        return "-d"
    return "--dry-run"


async def validate_on_fleet(call: ToolCall, state: FleetState, spec: ToolSpec, args: Any,
                            output_model: type[ToolOutput]) -> ToolOutput:
    """The local validation, then one compile check per distinct (bpftrace, kernel) of the hosts, all at once."""
    hosts = state.select(args.hosts)
    reaching = asyncio.create_task(fleet_facts(hosts, state.files, call.services.settings.fleet))
    try:
        local = await spec.handler(call, base_input(spec, args))
    except BaseException:
        reaching.cancel()  # an invalid call connects to no host
        raise
    facts = await reaching
    groups: dict[tuple[str | None, str | None], list[str]] = {}
    for fact in facts:
        if fact.reachable:
            groups.setdefault(fact.version_key, []).append(fact.host)
    checks = [FleetCheck(bpftrace=None, kernel=None, hosts=[f.host], checked_on=None, ok=False,
                         errors=[TraceError(category="resource", message=f.error or "unreachable")])
              for f in facts if not f.reachable]
    by_name = {host.name: host for host in hosts}
    program = rewrite_avg(args.program)
    checks += await asyncio.gather(*(_check_group(state, program, version, kernel, [by_name[n] for n in names])
                                     for (version, kernel), names in groups.items()))
    data = local.model_dump()
    failed = [check for check in checks if not check.ok]
    if failed:
        data["valid"] = False
        data["verdict"] = "block"
        data["errors"] = data["errors"] + [
            error.model_copy(update={"message": f"{', '.join(check.hosts[:5])}: {error.message}"}).model_dump()
            for check in failed for error in check.errors
        ]
    return output_model(**data, fleet_checks=checks)


async def _check_group(state: FleetState, program: str, version: str | None, kernel: str | None,
                       hosts: list[Host]) -> FleetCheck:
    """Compile ``program`` on the first of ``hosts`` (all with this bpftrace version and kernel)."""
    from mcptrace_bpftrace.stderr import HostFacts, keep_line, parse_errors

    names = [host.name for host in hosts]
    if version is None:
        return FleetCheck(bpftrace=None, kernel=kernel, hosts=names, checked_on=None, ok=False, errors=[
            TraceError(category="resource", message=f"bpftrace ({state.settings.fleet.remote_bpftrace}) is not "
                       "installed or not on the PATH there (fleet.remote_bpftrace)")])
    remote_facts = HostFacts(kprobes_usable=True)

    def spec_for_host() -> RunSpec:
        return RunSpec(argv=[], backend="bpftrace", label="compile check", timeout_s=CHECK_TIMEOUT_S,
                       decoder=PlainTextDecoder(), stderr_filter=keep_line,
                       explain=lambda stderr, code: parse_errors(stderr, code, remote_facts))

    launch = Launch(argv=[state.settings.fleet.remote_bpftrace, check_flag(version)], program=program, env={},
                    spec_for_host=spec_for_host, functions={})
    run = state.launch(hosts[:1], launch)
    await run.wait_done()
    host_run = run.hosts[names[0]]
    ok = host_run.status.value == "completed"
    return FleetCheck(bpftrace=version, kernel=kernel, hosts=names, checked_on=names[0], ok=ok,
                      errors=[] if ok else host_run.errors or [
                          TraceError(category="resource", message=host_run.error or "check failed")])
