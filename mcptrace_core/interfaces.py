"""Abstract bases for what plugins contribute.

Each base names the few members the core relies on. A plugin subclasses one, fills in the abstract
members and returns instances from the matching hook in ``hookspecs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mcptrace_core.analysis import ParsedOutput
    from mcptrace_core.models import HostCheck


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


class SafetyRule(ABC):
    """A check of a parsed program that may raise findings before the program runs."""

    id: ClassVar[str]
    severity: ClassVar[str]
    rationale: ClassVar[str]
    fix: ClassVar[str]

    @abstractmethod
    def check(self, program: Any, context: Any) -> Sequence[Any]:
        """Return the findings of this rule for ``program``; an empty list when it has none."""


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


class TemplatePack(ABC):
    """A named collection of parameterised program templates."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def templates(self) -> Sequence[Any]:
        """The templates of this pack."""


class ExamplePack(ABC):
    """A named collection of example programs."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def examples(self) -> Sequence[Any]:
        """The examples of this pack."""


class Embedder(ABC):
    """Turns texts into vectors for the semantic index. Loads its model lazily, on first use."""

    name: ClassVar[str]
    dimensions: ClassVar[int]

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the model and its version; part of the index cache key."""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Any:
        """Return one L2-normalised vector per text, as a 2-D array of float32."""
