"""The bpftrace MCP tools: bpf_info, list_probes, exec_program."""

from __future__ import annotations

import platform

import anyio
from pydantic import Field

from mcptrace_core.inputs import PatternText, ProgramText
from mcptrace_core.models import HostCheck, Model
from mcptrace_core.privilege import PrivilegeError, is_root
from mcptrace_core.runs.follow import respond
from mcptrace_core.runs.models import RunLimitError, RunStartError, RunStatus
from mcptrace_core.runs.results import ExecutionResult
from mcptrace_core.safety.models import ValidationReport
from mcptrace_core.safety.text import finding_lines
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

from mcptrace_bpftrace import host
from mcptrace_bpftrace.executable import BpftraceMissing
from mcptrace_bpftrace.guard import admit, backend_of, check, run_spec_for, settle_compile
from mcptrace_bpftrace.probes import normalize_filter
from mcptrace_bpftrace.retry import retry_tool
from mcptrace_bpftrace.validate.tool import SafetyLevel, validate_tool


# -- bpf_info -------------------------------------------------------------------------------------


class BpfInfoInput(ToolInput):
    refresh: bool = Field(False, description="Measure the probe types again instead of using this boot's cache.")


class ProbeTypeInfo(Model):
    usable: bool
    detail: str


class HostReport(ToolOutput):
    bpftrace_path: str | None
    bpftrace_version: str | None
    kernel_release: str
    btf: bool = Field(description="Kernel BTF is available (/sys/kernel/btf/vmlinux).")
    tracefs: str | None = Field(description="Where tracefs is mounted; null when it is not.")
    debugfs_mounted: bool
    root: bool
    privilege_prefix: list[str]
    usable_probe_types: list[str] = Field(description="Probe types measured to attach here.")
    probe_types: dict[str, ProbeTypeInfo] = Field(description="Every probe type: usable here, and why.")
    checks: list[HostCheck] = Field(description="Every check, with the fix for each that failed.")

    def to_text(self) -> str:
        lines = [
            f"bpftrace {self.bpftrace_version or 'missing'} ({self.bpftrace_path or '-'}), kernel {self.kernel_release}, "
            f"BTF {'yes' if self.btf else 'no'}, tracefs {self.tracefs or 'not mounted'}, "
            f"{'root' if self.root else 'prefix ' + ' '.join(self.privilege_prefix)}",
            "usable here: " + (", ".join(self.usable_probe_types) or "nothing"),
        ]
        unusable = [name for name, info in self.probe_types.items() if not info.usable]
        if unusable:
            lines.append("not usable here: " + ", ".join(unusable))
        lines += [f"FIX {check.name}: {check.fix}" for check in self.checks if not check.ok and check.fix]
        return "\n".join(lines)


async def bpf_info(call: ToolCall, args: BpfInfoInput) -> HostReport:
    backend = backend_of(call)
    try:
        bpftrace = backend.executable()
        probe_types = await backend.probe_types(refresh=args.refresh)
    except (BpftraceMissing, PrivilegeError) as error:
        bpftrace, probe_types = None, {}
        checks = [HostCheck(name="bpftrace usable", ok=False, detail=str(error), fix=str(error))]
    else:
        checks = await backend.doctor()
    return HostReport(
        bpftrace_path=bpftrace.path if bpftrace else None,
        bpftrace_version=".".join(map(str, bpftrace.version)) if bpftrace else None,
        kernel_release=platform.release(),
        btf=host.BTF_VMLINUX.exists(),
        tracefs=str(host.tracefs_root()) if host.tracefs_root() else None,
        debugfs_mounted="debugfs" in host.mounted_filesystems(),
        root=is_root(),
        privilege_prefix=list(call.services.settings.privilege.prefix),
        usable_probe_types=[name for name, status in probe_types.items() if status.usable],
        probe_types={name: ProbeTypeInfo(usable=s.usable, detail=s.detail) for name, s in probe_types.items()},
        checks=checks,
    )


# -- list_probes ----------------------------------------------------------------------------------


class ListProbesInput(ToolInput):
    filter: PatternText = Field(
        "*",
        description=(
            "bpftrace wildcard pattern, e.g. 'tracepoint:sched:*', 't:syscalls:sys_enter_open*', "
            "'uprobe:/usr/bin/bash:read*'. A word without ':' or '*' matches probes containing it."
        ),
    )
    offset: int = Field(0, ge=0, description="Index of the first probe to return.")
    limit: int = Field(100, ge=1, le=1000, description="Most probes to return.")
    with_args: bool = Field(False, description="Include tracepoint (and uprobe, with debug info) arguments.")


class ProbeItem(Model):
    name: str
    type: str
    usable_here: bool = Field(description="Whether this probe type was measured to attach on this host.")
    args: list[str] | None = None


class ListProbesResult(ToolOutput):
    filter: str = Field(description="The pattern as matched, aliases expanded.")
    probes: list[ProbeItem]
    total: int
    offset: int
    has_more: bool

    def to_text(self) -> str:
        lines = [f"{self.total} probes match {self.filter}; showing {self.offset}..{self.offset + len(self.probes) - 1}"]
        for probe in self.probes:
            mark = "" if probe.usable_here else "  (probe type not usable here)"
            lines.append(probe.name + mark)
            lines.extend(f"    {arg}" for arg in probe.args or ())
        if self.has_more:
            lines.append(f"[more: offset={self.offset + len(self.probes)}]")
        return "\n".join(lines)


async def list_probes(call: ToolCall, args: ListProbesInput) -> ListProbesResult:
    backend = backend_of(call)
    pattern = normalize_filter(args.filter)
    try:
        probes = await backend.catalog.search(pattern, args.with_args)
        usable = {name for name, status in (await backend.probe_types()).items() if status.usable}
    except (BpftraceMissing, PrivilegeError) as error:
        raise ToolError(str(error)) from None
    except ValueError as error:
        raise ToolError(f"filter {args.filter!r}: {error}") from None
    page = probes[args.offset : args.offset + args.limit]
    return ListProbesResult(
        filter=pattern,
        probes=[
            ProbeItem(name=p.name, type=p.type, usable_here=p.type in usable, args=list(p.args) if p.args is not None else None)
            for p in page
        ],
        total=len(probes),
        offset=args.offset,
        has_more=args.offset + len(page) < len(probes),
    )


# -- exec_program ---------------------------------------------------------------------------------


class ExecProgramInput(ToolInput):
    program: ProgramText
    timeout_s: float | None = Field(
        None, gt=0, le=86_400,
        description="Stop the run after this many seconds (maps are still printed). Default from config (10 s).",
    )
    wait: bool = Field(
        False,
        description="Return when the run ends, streaming new lines as progress notifications meanwhile. "
        "Otherwise return at once with the execution_id; read on with get_result.",
    )
    safety_level: str | None = SafetyLevel
    confirm: bool = Field(
        False,
        description=(
            "Set true only when the user has approved this exact program in the conversation. It counts as "
            "confirmation only where the policy says so (permissive); otherwise the user is asked through the client."
        ),
    )


class ExecProgramResult(ExecutionResult):
    validation: ValidationReport = Field(description="What validation found before the run started.")

    def to_text(self) -> str:
        findings = finding_lines(self.validation.findings, with_fix=False)
        return "\n".join([*findings, super().to_text()]) if findings else super().to_text()


async def exec_program(call: ToolCall, args: ExecProgramInput) -> ExecProgramResult:
    # A program not checked lately is compiled once, by the run itself (settle_compile), not twice.
    checked = await check(call, args.program, args.timeout_s, args.safety_level, defer_compile=True)
    try:
        decision = await admit(call, checked, args.confirm)
        run = await call.services.runs.start(run_spec_for(call, checked, decision))
    except (BpftraceMissing, PrivilegeError, RunLimitError, RunStartError) as error:
        raise ToolError(str(error)) from None
    if checked.compile_deferred:
        try:
            checked = await settle_compile(call, checked, run, args.confirm)
        except BaseException:  # cancelled (or failed) before the caller learnt the run's id: stop it
            if not run.status.finished:
                with anyio.CancelScope(shield=True):
                    run.request_stop(RunStatus.stopped, "the call that started it was cancelled")
                    await run.wait_done()
            raise
    result = await respond(call, run, args.wait)
    return ExecProgramResult(**result.model_dump(), validation=checked.report)


def tool_specs() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="bpf_info",
            title="What tracing works on this host",
            description=(
                "Report the bpftrace version and path, kernel release, BTF, tracefs/debugfs, privilege, and which "
                "probe types really attach HERE (measured by trial, e.g. kprobes are often missing), with the fix "
                "for each missing piece. Call this first."
            ),
            input_model=BpfInfoInput,
            output_model=HostReport,
            handler=bpf_info,
        ),
        ToolSpec(
            name="list_probes",
            title="List probes",
            description=(
                "List the probes bpftrace can attach on this host, filtered by a bpftrace wildcard pattern, paged "
                "with offset/limit (total and has_more tell how many), optionally with tracepoint arguments."
            ),
            input_model=ListProbesInput,
            output_model=ListProbesResult,
            handler=list_probes,
        ),
        ToolSpec(
            name="exec_program",
            title="Run a bpftrace program",
            description=(
                "Validate a bpftrace program (as validate_program does) and start it on this host; return its "
                "execution_id at once (or, with wait=true, when it ends, streaming output as progress). A program "
                "the safety policy blocks, or that does not validate, is refused with its errors and findings; one "
                "that needs confirmation is shown to the user first. Read output with get_result, stop it with "
                "stop_execution (its maps are kept). Runs are limited in time, output and number."
            ),
            input_model=ExecProgramInput,
            output_model=ExecProgramResult,
            handler=exec_program,
            read_only=False,
            destructive=False,
            idempotent=False,
            open_world=False,
        ),
        validate_tool(),
        retry_tool(),
    ]
