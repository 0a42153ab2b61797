"""What the search index holds: capabilities of any kind, from whichever plugin provides them.

A capability is something an assistant can use: an example program, a template, a BCC tool, an MCP
tool. Examples and MCP tools are collected from the registry here. Any other contribution (a template
pack, a backend that discovers BCC tools) joins the index by having a ``capabilities()`` method that
returns :class:`Capability` objects; nothing in the search code changes when a new kind arrives. One
that learns slowly also has ``prepare_capabilities()``, which ``mcptrace index build`` awaits first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from mcptrace_core.logging import get_logger
from mcptrace_core.registry import KINDS as REGISTRY_KINDS
from mcptrace_core.registry import Registry
from mcptrace_core.search import probes as probe_specs

if TYPE_CHECKING:
    from mcptrace_core.models import Example
    from mcptrace_core.tools import ToolSpec

log = get_logger(__name__)

CapabilityKind = Literal["example", "template", "bcc_tool", "tool"]
KINDS: tuple[CapabilityKind, ...] = ("example", "template", "bcc_tool", "tool")
Progress = Callable[[int, int], Awaitable[None]]
"""Called with (done, total) while a provider prepares."""
PROVIDER_KINDS = tuple(kind for kind, _ in REGISTRY_KINDS.values() if kind not in ("example_pack", "tool"))
"""Registry kinds whose contributions may offer ``capabilities()`` (examples and tools are read directly)."""


@dataclass(frozen=True)
class Capability:
    """One searchable thing. ``text`` is what its meaning is read from; the rest is for ranking and display.

    :param kind: what it is, which says how to use it.
    :param id: unique within its kind and source (an example id, a tool name, a template name).
    :param title: one line, what it does.
    :param text: plain words about what it answers; embedded and scored for terms.
    :param source: the pack or plugin it came from.
    :param identifiers: exact names a query may use for it (tool, probe and function names); a query
        naming one ranks it first.
    :param probes: the probe specs it attaches, for host awareness and term scoring.
    :param requires: probe types and kernel features it needs (``Example.requires`` vocabulary).
    :param tags: labels a search can filter on.
    :param usage: how an assistant uses it, e.g. ``exec_bcc_tool(tool_name='opensnoop')``.
    :param missing: what its provider already knows this host lacks for it (a BCC tool that failed its
        trial run); added to what the host check finds.
    :param item: the original object (an Example, a ToolSpec, ...); not part of the index key.
    """

    kind: CapabilityKind
    id: str
    title: str
    text: str
    source: str = ""
    identifiers: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    usage: str = ""
    missing: tuple[str, ...] = ()
    item: Any = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Unique across the index: kind, source and id."""
        return f"{self.kind}:{self.source}:{self.id}"

    def embedding_text(self) -> str:
        """What the embedder reads: the title, the plain-words text and the tags."""
        parts = [self.title.rstrip(".") + ".", self.text]
        if self.tags:
            parts.append("Tags: " + ", ".join(self.tags) + ".")
        return " ".join(part for part in parts if part)


@runtime_checkable
class CapabilityProvider(Protocol):
    """A contribution that offers searchable capabilities (a template pack, a BCC backend, ...).

    ``capabilities`` must be quick (it runs on the first search): a provider whose capabilities take
    long to learn returns what it has cached and may also have ``prepare_capabilities``.
    """

    def capabilities(self) -> Iterable[Capability]: ...


@runtime_checkable
class PreparingProvider(Protocol):
    """A provider that learns its capabilities slowly (the BCC backend runs every tool once per boot);
    ``mcptrace index build`` calls ``prepare_capabilities`` before building the index."""

    async def prepare_capabilities(self, progress: Progress | None = None) -> None: ...


async def prepare(registry: Registry, progress: Progress | None = None) -> None:
    """Let every provider that learns slowly learn now; a failing one is logged and skipped."""
    for kind in PROVIDER_KINDS:
        for contribution in registry.contributions(kind):
            if not isinstance(contribution.item, PreparingProvider):
                continue
            try:
                await contribution.item.prepare_capabilities(progress)
            except Exception as error:  # isolation boundary
                log.error(
                    "capability provider could not prepare",
                    plugin=contribution.plugin,
                    error=f"{type(error).__name__}: {error}",
                )


def from_example(example: Example) -> Capability:
    identifiers = {example.id, *example.tags}
    identifiers |= {probe_specs.expand(probe) for probe in example.probes}
    identifiers |= {probe_specs.last_name(probe) for probe in example.probes}
    if example.source.startswith("host:"):  # a tool the host ships, e.g. host:/usr/sbin/opensnoop.bt
        identifiers.add(example.source.rsplit("/", 1)[-1].removesuffix(".bt"))
    return Capability(
        kind="example",
        id=example.id,
        title=example.title,
        text=f"{example.description} Category: {example.category}.",
        source=example.pack,
        identifiers=tuple(sorted(identifiers)),
        probes=tuple(example.probes),
        requires=tuple(example.requires),
        tags=(*example.tags, example.category),
        usage=f"search_examples(query='{example.id}') gives its program; run it with exec_program",
        item=example,
    )


def from_tool(spec: ToolSpec) -> Capability:
    return Capability(
        kind="tool",
        id=spec.name,
        title=spec.title or spec.name,
        text=spec.description,
        source="mcp",
        identifiers=(spec.name,),
        usage=f"call the MCP tool {spec.name}",
        item=spec,
    )


def collect(registry: Registry) -> list[Capability]:
    """Every capability the plugins offer, in a stable order; a failing provider is logged and skipped."""
    from mcptrace_core.program.memo import remembering

    found: dict[str, Capability] = {}
    with remembering():
        for capability in _all(registry):
            if capability.key in found:
                log.warning("duplicate capability skipped", key=capability.key)
                continue
            found[capability.key] = capability
    return [found[key] for key in sorted(found)]


def _all(registry: Registry) -> Iterator[Capability]:
    for contribution in registry.contributions("example_pack"):
        pack = contribution.item
        try:
            examples = list(pack.examples())
        except Exception as error:  # isolation boundary: a broken pack must not break search
            log.error(
                "example pack skipped",
                pack=getattr(pack, "name", "?"),
                plugin=contribution.plugin,
                error=f"{type(error).__name__}: {error}",
            )
            continue
        for example in examples:
            if not example.pack:
                example = example.model_copy(update={"pack": pack.name})
            yield from_example(example)
    for spec in registry.tools:
        yield from_tool(spec)
    for kind in PROVIDER_KINDS:
        for contribution in registry.contributions(kind):
            if not isinstance(contribution.item, CapabilityProvider):
                continue
            try:
                yield from list(contribution.item.capabilities())
            except Exception as error:  # isolation boundary
                log.error(
                    "capability provider skipped",
                    plugin=contribution.plugin,
                    error=f"{type(error).__name__}: {error}",
                )
