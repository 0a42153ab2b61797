"""Abstract bases for what plugins contribute.

Each base names the few members the core relies on. A plugin subclasses one, fills in the abstract
members and returns instances from the matching hook in ``hookspecs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
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
    """Recognises one kind of trace output and parses it into structured data."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def detect(self, text: str) -> float:
        """How confident (0..1) this analyzer is that ``text`` is its kind of output."""

    @abstractmethod
    def parse(self, text: str) -> Any:
        """Parse ``text`` into this analyzer's structured form."""


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
