"""The safety gate of a BCC tool run: the core safety engine judges it, the core gate lets it through.

A run is a ``ToolRun`` (the tool and its checked arguments). The safety rules' ``check_tool`` (the
safety plugin's: state-changing tools, tools that capture content, tools that compile the caller's C,
run duration) and the policy's ``tools`` table decide under every policy in force, exactly as for a
bpftrace program; ``gate.authorize`` then refuses it, asks the user through the MCP client, or lets
it run, and audits the decision. ``bcc.deny`` in the configuration adds a critical finding, so a
denied tool is refused under every policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mcptrace_bcc.arguments import Invocation
from mcptrace_bcc.catalog import BccTool
from mcptrace_core.config import Settings
from mcptrace_core.models import Severity
from mcptrace_core.registry import Registry
from mcptrace_core.safety.gate import Decision, authorize
from mcptrace_core.safety.models import Finding, ToolRun, ValidationReport
from mcptrace_core.safety.policies import PolicyError, named_policy, run_policies
from mcptrace_core.safety.toolruns import judge_tool, tool_matches
from mcptrace_core.tools import ToolCall, ToolError

BACKEND = "bcc"
DENY_RULE = "bcc-deny"
SUBJECT = "BCC tool command"


def tool_run(tool: BccTool, arguments: Mapping[str, Any] | None = None, invocation: Invocation | None = None) -> ToolRun:
    return ToolRun(
        backend=BACKEND, name=tool.name, base_name=tool.file.base_name, arguments=dict(arguments or {}),
        argv=tuple(invocation.argv if invocation else ()),
    )


def denied(run: ToolRun, deny: Sequence[str]) -> Finding | None:
    """The finding for a tool that ``bcc.deny`` names, else None."""
    pattern = next((pattern for pattern in deny if tool_matches(run, pattern)), None)
    if pattern is None:
        return None
    return Finding(
        rule=DENY_RULE, severity=Severity.critical,
        message=f"the configuration forbids {run.name} (bcc.deny matches {pattern!r})",
        rationale="The host's configuration names the BCC tools that may never run here.",
        fix="Use another tool, or take the pattern out of bcc.deny in the configuration.",
    )


def judge(run: ToolRun, settings: Settings, registry: Registry, policies: Sequence[Any], duration_s: float) -> ValidationReport:
    found = denied(run, settings.bcc.deny)
    return judge_tool(run, policies, registry.safety_rules, duration_s, extra=[found] if found else [])


async def admit(
    call: ToolCall, tool: BccTool, arguments: Mapping[str, Any], invocation: Invocation, timeout_s: float, confirm: bool
) -> tuple[Decision, ValidationReport]:
    """Judge the run under the policies in force and pass the gate: ToolError (audited) when refused."""
    services = call.services
    try:
        policies = run_policies(services, None)
    except PolicyError as error:
        raise ToolError(str(error)) from None
    duration_s = invocation.ends_after_s if invocation.ends_after_s is not None else timeout_s
    run = tool_run(tool, arguments, invocation)
    report = judge(run, services.settings, services.registry, policies, duration_s)
    decision = await authorize(
        call, report, policies, program=run.command, confirm_argument=confirm, backend=BACKEND, subject=SUBJECT,
    )
    return decision, report


def refused_outright(tool: BccTool, settings: Settings, registry: Registry) -> bool:
    """Whether the configured policy refuses the tool whatever its arguments (so it gets no MCP tool of
    its own in the full exposure mode). A policy that cannot be read refuses nothing here: runs report it."""
    try:
        policy = named_policy(registry, settings)
    except PolicyError:
        return False
    run = tool_run(tool)
    return judge(run, settings, registry, [policy], settings.runs.default_timeout_s).verdict == "block"
