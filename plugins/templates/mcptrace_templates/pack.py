"""Entry point ``core-templates``: the templates mcptrace ships, one TOML file each in ``library/``.

A pack of its own (not part of the tools plugin) so that it can be disabled or replaced on its own.
"""

from __future__ import annotations

from importlib.resources import files

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import TemplatePack
from mcptrace_core.templates.loader import TomlTemplatePack


class CoreTemplates(TomlTemplatePack):
    name = "core-templates"
    description = (
        "mcptrace's own templates for the common tracing questions: syscalls, functions, CPU and scheduler, "
        "files and block I/O, memory, processes and signals, TCP and packets."
    )

    def __init__(self) -> None:
        super().__init__(files("mcptrace_templates") / "library")


@hookimpl
def mcptrace_template_packs() -> list[TemplatePack]:
    return [CoreTemplates()]
