"""Entry point of the host pack (``mcptrace`` group, name ``host-examples``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import ExamplePack
from mcptrace_pack_host.tools import HostToolsPack


@hookimpl
def mcptrace_example_packs() -> list[ExamplePack]:
    return [HostToolsPack()]
