"""Abstract bases for what plugins contribute.

Each base names the few members the core relies on. A plugin subclasses one, fills in the abstract
members and returns instances from the matching hook in ``hookspecs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mcptrace_core.analysis import ParsedOutput
    from mcptrace_core.models import Example, HostCheck, Severity
    from mcptrace_core.privilege import PrivilegedCommands
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext
    from mcptrace_core.safety.models import Finding, ToolRun
    from mcptrace_core.search.capability import Capability
    from mcptrace_core.templates.model import Template


class Backend(ABC):
    """A way to run tracing work on this host (bpftrace programs, BCC tools, ...).

    The core treats backends alike for diagnosis; the tools a backend offers come through the
    ``mcptrace_tools`` hook of the same plugin.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    async def doctor(self) -> list[HostCheck]:
        """Check what this backend needs on this host; each failed check carries the exact fix."""

    def privileged_commands(self) -> PrivilegedCommands:
        """What this backend runs through the privilege prefix, for ``mcptrace setup sudo``'s rule: the
        exact executables (nothing that could start another program of the caller's choosing) and the
        environment variables that must reach them. A backend that needs no root returns the default."""
        from mcptrace_core.privilege import PrivilegedCommands

        return PrivilegedCommands()


class SafetyRule(ABC):
    """A check that may raise findings before something runs: a bpftrace program, or an installed tool.

    ``check`` reads the program model (probes, calls, strings: never raw text, so a word in a comment
    is not a call) and the context (the policy's thresholds, what each probe spec attaches here).
    ``check_tool`` reads a run of an installed tool (a BCC tool and its arguments). A rule implements
    either or both; each finds nothing by default.
    """

    id: ClassVar[str]
    severity: ClassVar[Severity]
    """The severity of its findings unless a finding says otherwise or the policy overrides it."""
    rationale: ClassVar[str]
    """Why the rule exists: the harm it prevents."""
    fix: ClassVar[str]
    """How to get the same answer without the finding."""

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        """Return the findings of this rule for ``program``; an empty list when it has none."""
        return []

    def check_tool(self, run: ToolRun, context: RuleContext) -> Sequence[Finding]:
        """Return the findings of this rule for running a tool (``run.name`` with ``run.arguments``)."""
        return []

    def finding(
        self,
        message: str,
        at: Any = None,
        *,
        severity: Severity | None = None,
        fix: str | None = None,
        requires_unsafe: bool = False,
    ) -> Finding:
        """A finding of this rule at the position of ``at`` (any node or probe spec with line and col)."""
        from mcptrace_core.safety.models import Finding

        return Finding(
            rule=self.id,
            severity=severity or self.severity,
            message=message,
            line=getattr(at, "line", None),
            col=getattr(at, "col", None),
            rationale=self.rationale,
            fix=fix or self.fix,
            requires_unsafe=requires_unsafe,
        )


class Analyzer(ABC):
    """Recognises one kind of trace output and parses it into the shared ``ParsedOutput``.

    Statistics, top keys, trends and anomalies are computed from the parsed form by the analysis
    tool, so an analyzer only recognises and parses. ``name`` is the output kind callers pass as
    ``output_type`` (e.g. 'bpftrace', 'bpftrace_json', 'bcc').
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def detect(self, text: str) -> float:
        """How confident (0..1) this analyzer is that ``text`` is its kind of output.

        ``text`` may be large: look at a prefix. The most confident analyzer parses the output.
        """

    @abstractmethod
    def parse(self, text: str) -> ParsedOutput:
        """Parse ``text`` (untrusted: any input must parse without raising) into maps, tables, notices."""

    def stream(self) -> OutputStream | None:
        """A parser to feed a run's output as it arrives, so the run shows its maps and tables while it
        goes (BCC tools); None when this kind is only parsed whole."""
        return None


class OutputStream(ABC):
    """Parses one run's output as it arrives, line by line or in batches, in the ``parse`` way.

    ``take`` hands over what was parsed since the previous take and forgets it, so memory stays flat
    however long the run: the caller keeps what it needs (the latest map printouts, where table rows
    are). Line numbers in the result count every line fed, from 0.
    """

    @abstractmethod
    def feed(self, lines: Sequence[str]) -> None:
        """Parse the next lines (without their newlines). Untrusted text: must not raise."""

    @abstractmethod
    def take(self, final: bool = False) -> ParsedOutput:
        """What was parsed since the last take: each map printed since (its latest printout, whole), the
        table rows (with their ``row_runs``), notices. ``final``: the output has ended, so whatever is
        still open (a histogram whose rows may go on) is closed and handed over too."""


class TemplatePack(ABC):
    """A named collection of parameterised program templates (``mcptrace_core.templates``).

    ``TomlTemplatePack`` (``mcptrace_core.templates.loader``) is a ready base for a pack of TOML files.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def templates(self) -> Sequence[Template]:
        """The templates of this pack; the same objects on every call (each keeps what it compiled)."""

    def problems(self) -> list[str]:
        """Templates of this pack that could not be loaded, each with its reason."""
        return []

    def capabilities(self) -> list[Capability]:
        """The templates as search capabilities, so find_capabilities finds them (override to describe
        them otherwise)."""
        from mcptrace_core.templates.catalog import template_capability

        return [template_capability(template) for template in self.templates()]


class ExamplePack(ABC):
    """A named collection of example programs.

    ``name`` and ``description`` may be class or instance attributes (a pack read from files knows
    them only once it has read its pack.toml). ``mcptrace_core.packs.TomlExamplePack`` implements
    this for a directory of TOML files; most packs need nothing else.
    """

    name: str
    description: str

    @abstractmethod
    def examples(self) -> Sequence[Example]:
        """The examples of this pack, each with ``pack`` set to this pack's name.

        Called lazily (by search and the examples commands), never at plugin load; a pack may cache
        the result. Examples that fail to load are left out and reported, not raised.
        """


class Embedder(ABC):
    """Turns texts into vectors for the semantic index (``search.embedder`` picks one by name).

    Loads its model lazily, on first use: plugins are loaded at every server start, most of which
    never search. ``embed`` is called from worker threads, one call at a time per batch.
    """

    name: ClassVar[str]
    dimensions: ClassVar[int]

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the model, its version and anything that changes its vectors (tokenizer, window).

        Part of the index cache key: a different id means every text is embedded again. Must be cheap.
        """

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Any:
        """One L2-normalised vector per text: a numpy float32 array of shape (len(texts), dimensions)."""

    def shipped_vectors(self) -> Mapping[str, Any]:
        """Vectors made ahead of time for texts this embedder's package ships with, by the text's sha256 hex
        (``search.vectors.text_hash``), as ``embed`` would make them now; a new index embeds only the
        others. Empty unless an embedder ships some; must be cheap after its first call."""
        return {}
