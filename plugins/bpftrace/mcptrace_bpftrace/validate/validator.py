"""Validate a bpftrace program in layers, before anything runs.

1. parse (mcptrace's own grammar, no bpftrace needed): the program model every later layer reads;
2. compile with the host's bpftrace (-d / --dry-run) and, side by side, 3. count what each probe spec
   attaches here; both run at once, so validation costs about one bpftrace -d;
4. the safety rules of every policy in force, turned into one verdict;
5. a cost estimate.

``analyze`` does what does not depend on a policy; ``judge`` applies policies to its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity, TraceError
from mcptrace_core.privilege import PrivilegeError
from mcptrace_core.program.builtins import UNSAFE_BUILTINS
from mcptrace_core.program.ir import Program
from mcptrace_core.program.parser import ProgramSyntaxError, parse_program
from mcptrace_core.safety.engine import RuleContext, decide, evaluate, merge_findings
from mcptrace_core.safety.gate import combined_limits
from mcptrace_core.safety.includes import refused_includes, strictest_include_dirs
from mcptrace_core.safety.models import (
    CostEstimate,
    Finding,
    LayerResult,
    ProbeCount,
    SafetyPolicy,
    ValidationReport,
    Verdict,
    stricter,
)

from mcptrace_bpftrace.backend import BpftraceBackend
from mcptrace_bpftrace.executable import BpftraceMissing
from mcptrace_bpftrace.limits import limits_env
from mcptrace_bpftrace.validate.compile import CompileResult
from mcptrace_bpftrace.validate.cost import estimate_cost
from mcptrace_bpftrace.validate.expand import ProbeCheck, check_probes, unknown_types
from mcptrace_bpftrace.validate.suggest import HostNames, enrich, needs_tracepoint_fields

DEFERRED_DETAIL = "left to the run: bpftrace compiles the program as it starts, before anything attaches"
COMPILED_BY_RUN_DETAIL = "bpftrace compiled the program as the run started"
SYNTAX_HINT = "Fix the syntax at this line and column; bpftrace programs look like: probe /filter/ { statements; }"


@dataclass
class Analysis:
    """What validation learns before any policy is applied."""

    program: Program | None
    errors: list[TraceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    probes: list[ProbeCount] = field(default_factory=list)
    cost: CostEstimate | None = None
    requires_unsafe: bool = False
    layers: list[LayerResult] = field(default_factory=list)
    compile_deferred: bool = False
    """bpftrace's compile check was left to the run itself (see ``analyze``)."""


async def analyze(
    backend: BpftraceBackend, text: str, limits: Mapping[str, int], include_dirs: Sequence[str], *,
    defer_compile: bool = False,
) -> Analysis:
    """Parse, compile and count probes; ``limits`` are the BPFTRACE_* limits the run would get. A program
    with an #include outside ``include_dirs`` never reaches bpftrace: clang would read the file as root.

    ``defer_compile``: a program about to run need not be compiled twice (``bpftrace -d``, then the run
    compiles it again, ~80 ms): when mcptrace's own parser and checks find nothing, no recent check is
    cached and --unsafe is not needed, the compile layer is left to the run, whose compile errors the
    caller turns into validation errors (``guard.settle_compile``) before anything attaches.
    """
    program, parse_error = _parse(text)
    refused = refused_includes(text, include_dirs)
    analysis = Analysis(program)
    analysis.layers.append(LayerResult(
        layer="parse", state="failed" if parse_error else "passed", detail=parse_error.message if parse_error else "",
    ))
    static_errors = unknown_types(program) if program is not None else []
    static_errors += [TraceError(
        category="permission", line=include.line, col=1,
        message=f"#include refused by the safety policy: {include.refused}; bpftrace was not asked to compile "
        "the program", hint="Include only headers from the system header directories (<linux/sched.h>).",
    ) for include in refused]
    analysis.requires_unsafe = program is not None and any(call.name in UNSAFE_BUILTINS for call in program.calls())
    env = limits_env(limits, backend.features())
    try:
        # Through sudo the limits go on its command line (pass_environment), so they survive env_reset.
        command, env = backend.command_with(env)
        bpftrace = backend.executable()
    except (BpftraceMissing, PrivilegeError) as error:
        analysis.errors = [*([parse_error] if parse_error else []), *static_errors, TraceError(
            category="unsupported_feature", message=f"bpftrace cannot run here ({error}); only the static checks ran",
            hint="Install bpftrace and run mcptrace as root (bpf_info and `mcptrace doctor` say what is missing).",
        )]
        analysis.layers += [LayerResult(layer="compile", state="skipped", detail=str(error)),
                            LayerResult(layer="probes", state="skipped", detail=str(error))]
        return analysis

    cache = backend.compile_cache
    check_args = (command, bpftrace.check_flags, text, env, analysis.requires_unsafe)
    analysis.compile_deferred = (
        defer_compile and program is not None and not static_errors and not analysis.requires_unsafe
        and cache.lookup(*check_args) is None
    )

    async def compiled() -> CompileResult | None:
        if parse_error is not None:
            return None  # blocked anyway; bpftrace spent 30 s on 30,000 'é' before giving up
        if static_errors or analysis.compile_deferred:
            return None  # bpftrace would abort on an unknown probe type or read a refused include; or the run compiles
        return await cache.check(*check_args, backend.host_facts())

    async def counted() -> tuple[ProbeCheck | None, HostNames, str]:
        try:
            names = HostNames.of(await backend.catalog.names())
        except (ValueError, RuntimeError) as error:  # bpftrace -l failed: counting is impossible, not fatal
            return None, HostNames.of([]), f"probes could not be listed: {error}"
        if program is None:
            return None, names, "the program did not parse"
        usable = {name: status.usable for name, status in (await backend.probe_types()).items()}
        return await check_probes(program, usable, names, backend.list_probes_raw), names, ""

    compile_result, (probe_check, names, not_counted) = await asyncio.gather(compiled(), counted())
    why_skipped = (DEFERRED_DETAIL if analysis.compile_deferred else
                   "mcptrace's parser rejected the program" if parse_error is not None else
                   "an #include was refused" if refused else "unknown probe types: bpftrace would abort")
    analysis.layers.append(_compile_layer(compile_result, why_skipped))
    analysis.layers.append(_probe_layer(probe_check, not_counted))
    compile_errors = compile_result.errors if compile_result else []
    errors = _merge_errors(compile_errors, [*static_errors, *(probe_check.errors if probe_check else [])])
    if parse_error is not None and not compile_errors:
        errors.insert(0, parse_error)
    if needs_tracepoint_fields(errors):
        names = HostNames.of(names.probes, await backend.catalog.tracepoint_args())
    analysis.errors = enrich(errors, names, program)
    analysis.warnings = compile_result.warnings if compile_result else []
    if probe_check is not None and program is not None:
        analysis.probes = probe_check.probes
        analysis.cost = estimate_cost(program, probe_check.probes)
    return analysis


def judge(
    analysis: Analysis, policies: Sequence[SafetyPolicy], rules: Iterable[SafetyRule], timeout_s: float | None
) -> ValidationReport:
    """Apply every policy in force; the verdict is the strictest, findings are merged."""
    rules = list(rules)
    counts = {probe.spec: probe.count for probe in analysis.probes}
    verdict: Verdict = "allow"
    groups: list[list[Finding]] = []
    for policy in policies:
        if analysis.program is None:
            findings = [_unanalysed()]
        else:
            findings = evaluate(analysis.program, rules, RuleContext(policy, counts, timeout_s, "bpftrace"))
        groups.append(findings)
        verdict = stricter(verdict, "block" if analysis.program is None else decide(findings, policy))
    layers = [*analysis.layers, LayerResult(
        layer="safety", state="failed" if verdict == "block" else "passed", detail=f"verdict {verdict}",
    )]
    return ValidationReport(
        valid=not analysis.errors,
        verdict=verdict,
        policy="+".join(policy.name for policy in policies),
        errors=analysis.errors,
        warnings=analysis.warnings,
        findings=merge_findings(groups),
        probes=analysis.probes,
        estimated_cost=analysis.cost,
        requires_unsafe=analysis.requires_unsafe,
        layers=layers,
    )


async def validate(
    backend: BpftraceBackend,
    text: str,
    policies: Sequence[SafetyPolicy],
    rules: Iterable[SafetyRule],
    timeout_s: float | None = None,
) -> ValidationReport:
    analysis = await analyze(backend, text, combined_limits(policies), strictest_include_dirs(policies))
    return judge(analysis, policies, rules, timeout_s)


def _parse(text: str) -> tuple[Program | None, TraceError | None]:
    try:
        return parse_program(text), None
    except ProgramSyntaxError as error:
        return None, TraceError(category="syntax", message=error.message, line=error.line, col=error.col,
                                hint=SYNTAX_HINT)


def _merge_errors(compile_errors: list[TraceError], probe_errors: list[TraceError]) -> list[TraceError]:
    """bpftrace's own errors first; a probe-layer error of the same kind at the same place adds only its suggestions."""
    merged = list(compile_errors)
    for error in probe_errors:
        twin = next((index for index, seen in enumerate(merged)
                     if (seen.category, seen.line, seen.col) == (error.category, error.line, error.col)), None)
        if twin is None:
            merged.append(error)
        else:
            seen = merged[twin]
            suggestions = list(dict.fromkeys([*seen.suggestions, *error.suggestions]))
            merged[twin] = seen.model_copy(update={"suggestions": suggestions})
    return merged


def _compile_layer(result: CompileResult | None, why_skipped: str) -> LayerResult:
    if result is None:
        return LayerResult(layer="compile", state="skipped", detail=why_skipped)
    if result.errors:
        return LayerResult(layer="compile", state="failed", detail=f"{len(result.errors)} error(s)")
    return LayerResult(layer="compile", state="passed")


def _probe_layer(check: ProbeCheck | None, why_not: str) -> LayerResult:
    if check is None:
        return LayerResult(layer="probes", state="skipped", detail=why_not)
    if check.errors:
        return LayerResult(layer="probes", state="failed", detail=f"{len(check.errors)} problem(s)")
    total = sum(probe.count or 0 for probe in check.probes)
    return LayerResult(layer="probes", state="passed", detail=f"{total} probes")


def _unanalysed() -> Finding:
    return Finding(
        rule="unanalysed-program", severity=Severity.critical,
        message="the program could not be parsed, so its safety could not be checked",
        rationale="A program whose safety cannot be checked does not run.",
        fix="Fix the syntax error; if bpftrace accepts the program, report mcptrace's parser failure.",
    )
