"""Entry point of the containers pack (``mcptrace`` group, name ``containers-examples``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.packs import TomlExamplePack


@hookimpl
def mcptrace_example_packs() -> list[ExamplePack]:
    return [TomlExamplePack.from_package("mcptrace_pack_containers")]
