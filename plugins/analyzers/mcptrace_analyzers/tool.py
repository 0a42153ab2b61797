"""The analyze_output tool: a run's output (or given text) -> numbers, anomalies, a summary, a chart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from pydantic import Field, PrivateAttr, model_validator

from mcptrace_analyzers.gcpause import paused_gc
from mcptrace_analyzers.report import FOCUS_AREAS, FocusArea, Report, build_report, shown_maps, summary_text
from mcptrace_analyzers.units import format_quantity
from mcptrace_core.analysis import (
    Anomaly,
    Distribution,
    MapPrintouts,
    ParsedMap,
    ParsedOutput,
    Series,
    TableSummary,
    TopKeys,
)
from mcptrace_core.history.lookup import find_run
from mcptrace_core.runs.overhead import LimitCrossed, RunOverhead
from mcptrace_core.runs.results import run_overhead
from mcptrace_core.interfaces import Analyzer
from mcptrace_core.logging import get_logger
from mcptrace_core.models import TraceMap
from mcptrace_core.services import Services
from mcptrace_core.textsafety import clean_text
from mcptrace_core.tools import Image, ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

log = get_logger(__name__)

MAX_OUTPUT_CHARS = 64 * 1024 * 1024
MAX_LINE_CHARS = 4096
MAX_MAP_ENTRIES = 50


class AnalyzeInput(ToolInput):
    execution_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A run to analyse (its kept output lines and its maps). Give this or `output`.",
    )
    output: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_OUTPUT_CHARS,
        description="Trace output to analyse: bpftrace text or -f json, or a BCC/libbpf tool's output. "
        "Give this or `execution_id`.",
    )
    output_type: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The output kind (an analyzer name: 'bpftrace', 'bpftrace_json', 'bcc', or one a plugin "
        "adds); detected when omitted.",
    )
    focus_areas: list[FocusArea] = Field(
        default_factory=lambda: list(FOCUS_AREAS),
        max_length=5,
        description="What to report: distribution (histogram percentiles), top (largest keys), trend "
        "(maps printed per interval), events (event tables), anomalies. All by default.",
    )
    names: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Only these maps or columns, e.g. ['@usecs', 'LAT(ms)']; all when empty.",
    )
    top_n: int = Field(10, ge=1, le=100, description="How many top keys and top column values to list.")
    printout: int | None = Field(
        None,
        ge=-1_000_000,
        le=1_000_000,
        description="Which printout of each map to report when maps were printed several times (interval "
        "print(), several runs): 1 = the first, 2 = the second, -1 = the latest (the default); maps printed "
        "fewer times are left out. `printouts` lists them all.",
    )
    chart: bool = Field(
        False, description="Also return a PNG chart of the histograms and time series, as MCP image content."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnalyzeInput:
        if (self.execution_id is None) == (self.output is None):
            raise ValueError("give exactly one of execution_id (a run) or output (the text to analyse)")
        if self.printout == 0:
            raise ValueError("printout counts from 1 (the first printout) or from -1 (the latest); 0 is neither")
        return self


class AnalyzeResult(ToolOutput):
    kind: str = Field(description="The output kind (the analyzer that parsed it).")
    source: str = Field(description="What was analysed: the run, or the size of the given text.")
    maps: list[TraceMap] = Field(
        description=f"Parsed maps (the printout reported: the latest by default), at most {MAX_MAP_ENTRIES} "
        "entries each (the largest)."
    )
    maps_entries_omitted: int = Field(description="Map entries left out by that cap.")
    printouts: list[MapPrintouts] = Field(
        default_factory=list,
        description="Every printout of every map (line, label, total), whether they are running totals "
        "(cumulative) or per-interval amounts, and the total over the whole output.",
    )
    stats: list[Distribution] = Field(
        description="Histogram statistics of the printout reported: count, p50/p90/p99 as the bucket each falls "
        "in with an interpolated estimate (withheld, with the reason, below 2/10/100 samples), mean, mode, "
        "bimodality, units."
    )
    top: list[TopKeys] = Field(description="The largest keys of each keyed map with their share.")
    series: list[Series] = Field(description="Quantities of maps printed per interval, with trend.")
    tables: list[TableSummary] = Field(
        description="Event tables: columns, sample rows, column statistics, slowest."
    )
    anomalies: list[Anomaly] = Field(description="Unusual findings with their evidence, most severe first.")
    lost_events: int
    helper_errors: list[str]
    other_lines: int = Field(description="Lines that were none of the above.")
    summary: str = Field(description="The findings in a few lines.")
    chart: str | None = Field(
        None, description="What the attached PNG image shows; null when none was drawn."
    )
    overhead: RunOverhead | None = Field(
        None, description="What the analysed run cost the host (its final figures); null for given text."
    )
    limit_crossed: LimitCrossed | None = Field(None, description="The runtime limit the run was stopped for.")
    _png: bytes | None = PrivateAttr(None)

    def to_text(self) -> str:
        head = f"{self.kind} output, {self.source}"
        parts = [head, self.summary]
        if self.chart:
            parts.append(f"[chart attached: {self.chart}]")
        if self.overhead is not None:
            parts.append(self.overhead.line())
        return "\n".join(parts)

    def images(self) -> list[Image]:
        return [Image(self._png)] if self._png else []


@dataclass(frozen=True)
class RunOutput:
    """What analyze_output reads of a run: its kept lines, structured maps and measured cost."""

    text: str
    maps: list[TraceMap]
    lost_events: int
    source: str
    """A description: the run, its status and how many lines it kept."""
    overhead: RunOverhead | None
    limit_crossed: LimitCrossed | None


async def execution_output(services: Services, execution_id: str) -> RunOutput:
    """A run's kept output as one text, with its maps, lost events, measured cost and the limit that stopped it.

    The run is the live one of this server or, for a run of an earlier server process (or expired from
    memory), the one the history kept (its first and last lines; history.max_output_lines).
    """
    run = await find_run(services, execution_id)
    lines: list[str] = []
    offset = 0
    while True:
        page = run.output.page(offset, max(1, run.output.total))
        if not page.lines:
            break
        lines.extend(page.lines)
        offset = page.offset + len(page.lines)
    note = f"execution {run.id} ({run.status.value}, {run.output.total} lines"
    note += f", {run.output.dropped} dropped by the output cap)" if run.output.dropped else ")"
    return RunOutput("\n".join(lines), list(run.maps.values()), run.lost_events, note, run_overhead(run),
                     run.limit_crossed)


def choose_analyzer(analyzers: list[Analyzer], text: str, output_type: str | None) -> Analyzer:
    """The analyzer named ``output_type``, else the one most confident that ``text`` is its kind."""
    if output_type is not None:
        for analyzer in analyzers:
            if analyzer.name == output_type:
                return analyzer
        known = ", ".join(sorted(a.name for a in analyzers)) or "none (is the analyzers plugin disabled?)"
        raise ToolError(f"output_type {output_type!r} is not a known output kind; known kinds: {known}")
    if not analyzers:
        raise ToolError("no analyzers are loaded: check `mcptrace plugins` and plugins.disable in the config")
    scored = []
    for analyzer in analyzers:
        try:
            scored.append((float(analyzer.detect(text)), analyzer))
        except Exception:
            log.exception("analyzer detect failed", analyzer=analyzer.name)
    if not scored:
        raise ToolError("every analyzer failed to read this output")
    return max(scored, key=lambda item: item[0])[1]


def analyze(
    analyzers: list[Analyzer],
    args: AnalyzeInput,
    text: str,
    source: str,
    run_maps: list[TraceMap] | None = None,
    run_lost: int = 0,
) -> AnalyzeResult:
    """Parse, compute the findings and shape the result (CPU work: run it off the event loop)."""
    with paused_gc():  # while millions of parsed values are alive, a collection would rescan them all
        return _analyze(analyzers, args, text, source, run_maps, run_lost)


def _analyze(
    analyzers: list[Analyzer],
    args: AnalyzeInput,
    text: str,
    source: str,
    run_maps: list[TraceMap] | None,
    run_lost: int,
) -> AnalyzeResult:
    analyzer = choose_analyzer(analyzers, text, args.output_type)
    try:
        parsed: ParsedOutput = analyzer.parse(text)
    except Exception as error:  # noqa: BLE001 - isolation boundary around (possibly third-party) parsers
        raise ToolError(
            f"the {analyzer.name} analyzer could not parse this output: {type(error).__name__}: {error}"
        ) from None
    if run_maps:  # the run's structured maps survive the output cap that may have cut their text
        lines = {m.name: m.line for m in parsed.maps}  # where their latest printout is in the text
        structured = [ParsedMap.from_trace_map(m) for m in run_maps]
        for trace_map in structured:
            trace_map.line = lines.get(trace_map.name)
        parsed = replace(parsed, maps=structured)
    parsed.lost_events = max(parsed.lost_events, run_lost)
    report = build_report(parsed, set(args.focus_areas), args.top_n, args.names, args.printout)
    maps, omitted = shown_maps(report.maps, MAX_MAP_ENTRIES)
    result = AnalyzeResult(
        kind=parsed.kind,
        source=source,
        maps=maps,
        maps_entries_omitted=omitted,
        printouts=report.printouts,
        stats=report.distributions,
        top=report.top,
        series=report.series,
        tables=report.tables,
        anomalies=report.anomalies,
        lost_events=parsed.lost_events,
        helper_errors=parsed.helper_errors,
        other_lines=parsed.other_lines,
        summary=summary_text(parsed, report),
    )
    if args.chart:
        _attach_chart(result, report)
    return result


def _attach_chart(result: AnalyzeResult, report: Report) -> None:
    from mcptrace_analyzers.chart import MAX_PANELS, render_png

    captions = {
        d.subject: f"n={d.count}"
        + "".join(
            f", {label} ~{format_quantity(value.estimate, d.unit)}"
            for label, value in (("p50", d.p50), ("p99", d.p99))
            if value is not None
        )
        for d in report.distributions
    }
    histograms = {name: (buckets, captions[name]) for name, buckets in report.buckets.items()}
    png = render_png(histograms, report.series)
    if png is None:
        return
    drawn = list(histograms)[: MAX_PANELS - (1 if report.series else 0)]
    result.chart = ", ".join(
        [f"histogram {name}" for name in drawn] + (["the series per interval"] if report.series else [])
    )
    result._png = png


async def analyze_output(call: ToolCall, args: AnalyzeInput) -> AnalyzeResult:
    analyzers = call.services.registry.analyzers
    if args.execution_id is None:
        assert args.output is not None
        text = clean_text(args.output, MAX_LINE_CHARS)
        return await asyncio.to_thread(analyze, analyzers, args, text, f"{len(args.output)} characters given")
    run = await execution_output(call.services, args.execution_id)
    result = await asyncio.to_thread(analyze, analyzers, args, run.text, run.source, run.maps, run.lost_events)
    result.overhead, result.limit_crossed = run.overhead, run.limit_crossed
    call.services.history.annotate(args.execution_id, summary=result.summary)  # search_history shows it
    return result


def tool_spec() -> ToolSpec:
    return ToolSpec(
        name="analyze_output",
        title="Turn trace output into numbers",
        description=(
            "Parse the output of a run (execution_id) or given text (output) - bpftrace text or -f json, "
            "BCC/libbpf-tools tables and histograms - into numbers: histogram p50/p90/p99 (interpolated in "
            "buckets) with units, top keys with their share, per-interval trends, event tables with column "
            "statistics and the slowest events, and anomalies with their evidence (bimodal, long tail, "
            "outliers, spikes, failures, lost events). chart=true adds a PNG chart."
        ),
        input_model=AnalyzeInput,
        output_model=AnalyzeResult,
        handler=analyze_output,
        read_only=True,
        idempotent=True,
    )
