"""Validation results as short text: for tool results, refusals, and the question shown to the user."""

from __future__ import annotations

from collections.abc import Iterable

from mcptrace_core.models import TraceError
from mcptrace_core.safety.models import Finding, ValidationReport

MAX_PROGRAM_LINES_ASKED = 60


def error_lines(errors: Iterable[TraceError]) -> list[str]:
    lines = []
    for error in errors:
        where = f" line {error.line}" + (f":{error.col}" if error.col else "") if error.line else ""
        lines.append(f"error [{error.category}]{where}: {error.message}")
        if error.hint:
            lines.append(f"  hint: {error.hint}")
        if error.suggestions:
            lines.append("  try: " + "; ".join(error.suggestions))
    return lines


def finding_lines(findings: Iterable[Finding], with_fix: bool = True) -> list[str]:
    lines = []
    for finding in findings:
        where = f" line {finding.line}" if finding.line else ""
        lines.append(f"[{finding.severity.value}] {finding.rule}{where}: {finding.message}")
        if with_fix and finding.fix:
            lines.append(f"  fix: {finding.fix}")
    return lines


def report_text(report: ValidationReport) -> str:
    """What an assistant needs to act: the verdict, what is wrong and how to fix it, the cost."""
    head = f"{'valid' if report.valid else 'INVALID'}; verdict {report.verdict} under policy {report.policy}"
    lines = [head, *error_lines(report.errors), *finding_lines(report.findings)]
    lines += [f"warning: {warning}" for warning in report.warnings]
    if report.probes:
        lines.append("probes: " + ", ".join(
            f"{probe.spec} ({probe.count if probe.count is not None else '?'})" for probe in report.probes
        ))
    if report.estimated_cost is not None:
        cost = report.estimated_cost
        lines.append(f"cost: {cost.label} ({cost.reason})")
        if cost.predicted is not None:
            predicted = cost.predicted
            rate = f"{predicted.events_per_s:.0f} events/s" if predicted.events_per_s is not None else "events/s unknown"
            share = f", {predicted.cpu_pct:.2f}% CPU" if predicted.cpu_pct is not None else ""
            lines.append(f"predicted: {rate}{share} ({predicted.basis}: {predicted.how})")
    return "\n".join(lines)


def refusal_text(report: ValidationReport, reason: str) -> str:
    return "\n".join([reason, *error_lines(report.errors), *finding_lines(report.findings)])


def confirmation_question(report: ValidationReport, program: str, unsafe: bool, subject: str = "program") -> str:
    """The question shown to the user: the whole decision in front of them, not a summary of it.

    :param subject: 'program' for a bpftrace program; else what ``program`` is (a tool's command line).
    """
    lines = program.rstrip().splitlines()
    shown = lines[:MAX_PROGRAM_LINES_ASKED]
    if len(lines) > len(shown):
        shown.append(f"... ({len(lines) - len(shown)} more lines)")
    flag = " with --unsafe (it may run commands or send signals)" if unsafe else ""
    what = "bpftrace program" if subject == "program" else subject
    return "\n".join([
        f"This {what} is about to run as root on this host{flag}:",
        "",
        *shown,
        "",
        f"The safety policy '{report.policy}' asks you to confirm because of:",
        *finding_lines(report.findings, with_fix=False),
        "",
        "Run it?",
    ])
