"""Entry point of the core example pack (``mcptrace`` group, name ``core-examples``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.packs import TomlExamplePack


@hookimpl
def mcptrace_example_packs() -> list[ExamplePack]:
    return [TomlExamplePack.from_package("mcptrace_pack_core")]
