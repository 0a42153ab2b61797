"""Which example or template a program came from, recognised by its text: the one place that knows.

The history records the example or template behind every run without asking the model to say so.
The services keep an index from a program's normalised text to its source:

- every example of every installed pack, as ``example:<pack>/<id>`` (read on the first lookup, in a
  worker thread: about 60 ms for the core and host packs);
- every program generate_from_template produced in this process, as ``template:<name>`` (the newest
  MAX_GENERATED of them; a template's program wins over an identical example's).

Normalising: every run of whitespace (spaces, tabs, newlines) becomes one space and both ends are
stripped, so a program re-indented or re-wrapped on its way through the model keeps its source, and
any other edit makes it the assistant's own program (no source). Whitespace inside string literals is
folded too, so two programs differing only there count as the same; for naming a source that is
harmless. Keys are 16-byte BLAKE2b digests of the normalised text: the index stays small however long
the programs are.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from mcptrace_core.logging import get_logger

if TYPE_CHECKING:
    from mcptrace_core.registry import Registry

log = get_logger(__name__)

MAX_GENERATED = 1024


def program_key(program: str) -> bytes:
    """The index key of a program: a digest of its text with whitespace normalised."""
    return hashlib.blake2b(" ".join(program.split()).encode("utf-8"), digest_size=16).digest()


class ProgramSources:
    """Program text -> the example or template it came from, for the programs this server knows."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._examples: dict[bytes, str] | None = None
        self._generated: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember_template(self, program: str, template: str) -> None:
        """Note a program generate_from_template produced (called on the event loop; microseconds)."""
        key = program_key(program)
        with self._lock:
            self._generated[key] = f"template:{template}"
            self._generated.move_to_end(key)
            while len(self._generated) > MAX_GENERATED:
                self._generated.popitem(last=False)

    async def source_of(self, program: str) -> str | None:
        """The example or template ``program`` is, or None when it is nobody's but the caller's."""
        if self._examples is None:
            import anyio

            await anyio.to_thread.run_sync(self._load_examples)
        key = program_key(program)
        with self._lock:
            generated = self._generated.get(key)
        return generated or (self._examples or {}).get(key)

    def _load_examples(self) -> None:
        examples: dict[bytes, str] = {}
        for pack in self._registry.example_packs:
            try:
                for example in pack.examples():
                    examples.setdefault(program_key(example.program), f"example:{example.pack or pack.name}/{example.id}")
            except Exception as error:  # isolation boundary: a broken pack costs its sources, not the run
                log.error("example pack not indexed for sources", pack=getattr(pack, "name", "?"),
                          error=f"{type(error).__name__}: {error}")
        self._examples = examples
