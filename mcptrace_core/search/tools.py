"""The search MCP tools: search_examples and find_capabilities.

Registered through the ``mcptrace`` entry-point group as the ``search`` plugin. The first call in a
server builds (or loads from the cache) the index; later calls take milliseconds.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from mcptrace_core import hookimpl
from mcptrace_core.models import Example, Model
from mcptrace_core.search.capability import KINDS, Capability, CapabilityKind
from mcptrace_core.search.engine import Hit
from mcptrace_core.textsafety import clean_text
from mcptrace_core.tools import ToolCall, ToolInput, ToolOutput, ToolSpec

TEXT_LINE_CHARS = 2000
"""Packs are third-party text: the human text strips control characters and caps each line."""


def _clean_query(text: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("control characters are not allowed")
    if not text.strip():
        raise ValueError("the query is empty; say what you want to trace, e.g. 'file opens that fail'")
    return text.strip()


QueryText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="What you want to find, in plain words or by name.",
        examples=["latency of disk I/O", "opensnoop", "tracepoint:sched:sched_switch"],
    ),
    AfterValidator(_clean_query),
]
Tag = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.+-]+$")]


class SearchExamplesInput(ToolInput):
    query: QueryText
    limit: int = Field(5, ge=1, le=50, description="Most examples to return.")
    runnable_only: bool = Field(
        False, description="Only examples whose probes all exist and work on this host."
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=10,
        description="Only examples carrying every one of these tags or categories, e.g. ['network'].",
    )


class Reference(Model):
    id: str
    pack: str
    title: str


class ExampleHit(Model):
    id: str = Field(description="The example's id within its pack.")
    pack: str = Field(description="The pack it comes from.")
    title: str
    description: str = Field(description="What question it answers.")
    program: str = Field(
        description="The bpftrace program; pass it to exec_program (validate_program first)."
    )
    probes: list[str] = Field(description="The probes it attaches.")
    tags: list[str]
    category: str
    score: float = Field(
        description="Relevance to the query (meaning + exact terms + names); higher is better."
    )
    runnable: bool = Field(
        description="Whether every probe type, probe and feature it needs is available HERE."
    )
    missing: list[str] = Field(description="What this host lacks for it, e.g. 'probe type kprobe'.")
    alternative: Reference | None = Field(
        None,
        description="A runnable example that does the same job here; it follows this one in the results.",
    )
    alternative_for: Reference | None = Field(
        None, description="The unrunnable example this one stands in for."
    )


class SearchExamplesResult(ToolOutput):
    query: str
    results: list[ExampleHit]
    note: str | None = Field(
        None, description="A limitation of this answer, e.g. semantic ranking being off."
    )

    def to_text(self) -> str:
        if not self.results:
            return f"no example matches {self.query!r}" + (f" ({self.note})" if self.note else "")
        lines = [f"note: {self.note}"] if self.note else []
        for number, hit in enumerate(self.results, 1):
            where = (
                "runnable here" if hit.runnable else "NOT runnable here, missing: " + ", ".join(hit.missing)
            )
            lines.append(f"{number}. {hit.title} [{hit.pack}/{hit.id}] score {hit.score:.2f}, {where}")
            if hit.alternative:
                lines.append(f"   runnable alternative: {hit.alternative.pack}/{hit.alternative.id}")
            if hit.alternative_for:
                lines.append(f"   (stands in for {hit.alternative_for.pack}/{hit.alternative_for.id})")
            lines.append("   " + " ".join(hit.description.split()))
            lines.extend(f"   | {line}" for line in hit.program.rstrip().splitlines())
        return clean_text("\n".join(lines), TEXT_LINE_CHARS)


class FindCapabilitiesInput(ToolInput):
    query: QueryText
    kinds: list[CapabilityKind] = Field(
        default_factory=lambda: list(KINDS),
        min_length=1,
        max_length=len(KINDS),
        description="Which kinds to search: example, template, bcc_tool, tool (MCP tools). All by default.",
    )
    limit: int = Field(10, ge=1, le=50, description="Most capabilities to return.")
    runnable_only: bool = Field(False, description="Only capabilities that can run on this host.")


class CapabilityHit(Model):
    kind: CapabilityKind
    id: str = Field(description="Its name: a tool or template name, an example id.")
    source: str = Field(description="The pack or plugin it comes from ('mcp' for the server's own tools).")
    title: str
    description: str
    score: float = Field(description="Relevance to the query; higher is better.")
    runnable: bool = Field(description="Whether it can run HERE (always true for MCP tools).")
    missing: list[str] = Field(description="What this host lacks for it.")
    usage: str = Field(description="How to use it.")


class FindCapabilitiesResult(ToolOutput):
    query: str
    results: list[CapabilityHit]
    note: str | None = None

    def to_text(self) -> str:
        if not self.results:
            return f"nothing matches {self.query!r}"
        lines = [f"note: {self.note}"] if self.note else []
        for hit in self.results:
            where = "" if hit.runnable else " (NOT runnable here, missing: " + ", ".join(hit.missing) + ")"
            lines.append(
                f"{hit.kind} {hit.id} [{hit.source}] {hit.score:.2f}{where}: {hit.title}. {hit.usage}"
            )
        return clean_text("\n".join(lines), TEXT_LINE_CHARS)


def _reference(capability: Capability) -> Reference | None:
    example = capability.item
    return (
        Reference(id=example.id, pack=example.pack, title=example.title)
        if isinstance(example, Example)
        else None
    )


def example_hit(hit: Hit) -> ExampleHit:
    example: Example = hit.capability.item
    return ExampleHit(
        id=example.id,
        pack=example.pack,
        title=example.title,
        description=example.description,
        program=example.program,
        probes=list(example.probes),
        tags=list(example.tags),
        category=example.category,
        score=round(hit.score, 4),
        runnable=hit.availability.runnable,
        missing=list(hit.availability.missing),
        alternative=_reference(hit.alternative) if hit.alternative else None,
        alternative_for=_reference(hit.alternative_for) if hit.alternative_for else None,
    )


async def search_examples(call: ToolCall, args: SearchExamplesInput) -> SearchExamplesResult:
    engine = call.services.search
    index = await engine.index(progress=_progress(call))
    hits = await engine.search(
        args.query, kinds=("example",), limit=args.limit, runnable_only=args.runnable_only, tags=args.tags
    )
    return SearchExamplesResult(
        query=args.query, results=[example_hit(hit) for hit in hits], note=index.info.note
    )


async def find_capabilities(call: ToolCall, args: FindCapabilitiesInput) -> FindCapabilitiesResult:
    engine = call.services.search
    index = await engine.index(progress=_progress(call))
    hits = await engine.search(args.query, kinds=set(args.kinds), limit=args.limit, runnable_only=args.runnable_only)
    results = [
        CapabilityHit(
            kind=hit.capability.kind,
            id=hit.capability.id,
            source=hit.capability.source,
            title=hit.capability.title,
            description=hit.capability.text,
            score=round(hit.score, 4),
            runnable=hit.availability.runnable,
            missing=list(hit.availability.missing),
            usage=hit.capability.usage,
        )
        for hit in hits
    ]
    return FindCapabilitiesResult(query=args.query, results=results, note=index.info.note)


def _progress(call: ToolCall):  # type: ignore[no-untyped-def]
    async def report(done: int, total: int) -> None:
        await call.report_progress(done, total, f"building the search index: {done}/{total} texts embedded")

    return report


@hookimpl
def mcptrace_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="search_examples",
            title="Search example programs",
            description=(
                "Find tested bpftrace example programs by meaning and by name (e.g. 'latency of disk "
                "I/O', 'opensnoop', 'sched_switch'). Each result has its program, the probes it attaches "
                "and whether it can run HERE (runnable, missing); runnable_only keeps only those that can. "
                "An example needing kprobes on a host without them names a runnable alternative about the "
                "same subject, which is among the results (in score order) when one exists."
            ),
            input_model=SearchExamplesInput,
            output_model=SearchExamplesResult,
            handler=search_examples,
        ),
        ToolSpec(
            name="find_capabilities",
            title="Find what mcptrace can do",
            description=(
                "Search everything this server offers by meaning: its MCP tools, program templates, BCC "
                "tools and example programs. Each result says what kind it is, whether it can run here "
                "and how to use it. Start here when unsure which tool fits a tracing task."
            ),
            input_model=FindCapabilitiesInput,
            output_model=FindCapabilitiesResult,
            handler=find_capabilities,
        ),
    ]
