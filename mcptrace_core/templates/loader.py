"""Template packs made of TOML files, one template per file.

TOML because the examples are TOML too (one format for everything a pack ships), the reader is in the
standard library, and a multi-line literal string (``'''``) holds a bpftrace body with its quotes and
backslashes exactly as written. A file looks like::

    name = "syscall_latency"              # the file is syscall_latency.toml
    title = "Latency of one syscall, from entry to return"
    description = "..."
    category = "syscalls"
    tags = ["latency", "histogram"]
    requires = ["tracepoint"]
    filters = ["pid", "comm", "cgroup"]   # common filter parameters it supports
    outputs = ["hist", "stats", "printf"] # output modes; the first is the default
    body = '''
    tracepoint:syscalls:sys_enter_{{ syscall }}
    {{ when() }}
    { ... }
    {{ finish("@start") }}
    '''

    [parameters.syscall]                  # tables come after every top-level key
    kind = "identifier"
    default = "read"
    description = "The syscall to time, as in its tracepoints sys_enter_NAME."

A file that does not load is reported with its name and the reason; the rest of the pack still loads.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import ValidationError

from mcptrace_core.interfaces import TemplatePack
from mcptrace_core.logging import get_logger

if TYPE_CHECKING:
    from mcptrace_core.templates.model import Template

log = get_logger(__name__)


def load_template(text: str, source: str, pack: str) -> Template:
    """One template from the text of its TOML file; ValueError naming the file and the field."""
    from mcptrace_core.templates.model import Template  # on first load, not when a pack plugin is imported

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from None
    try:
        return Template.model_validate({**data, "pack": pack, "source": source})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(file)'}: {item['msg']}" for item in error.errors()
        )
        raise ValueError(f"{source}: {problems}") from None


class TomlTemplatePack(TemplatePack):
    """A pack whose templates are the ``*.toml`` files of one directory (in a package or on disk).

    Subclasses set ``name``, ``description`` and ``directory`` (e.g. ``files("my_pack") / "templates"``).
    The files are read on the first call of ``templates()`` and kept, so each template compiles once.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, directory: Traversable | Path) -> None:
        self.directory = directory
        self._templates: list[Template] | None = None
        self._problems: list[str] = []

    def templates(self) -> Sequence[Template]:
        if self._templates is None:
            self._templates = self._load()
        return self._templates

    def problems(self) -> list[str]:
        self.templates()
        return list(self._problems)

    def _load(self) -> list[Template]:
        loaded = []
        files = sorted((entry for entry in self.directory.iterdir() if entry.name.endswith(".toml")), key=lambda e: e.name)
        for entry in files:
            source = f"{self.name}/{entry.name}"
            try:
                template = load_template(entry.read_text(encoding="utf-8"), source, self.name)
                if f"{template.name}.toml" != entry.name:
                    raise ValueError(f"{source}: the file must be named after the template ({template.name}.toml)")
            except (ValueError, OSError) as error:
                self._problems.append(str(error))
                log.error("template skipped", pack=self.name, problem=str(error))
                continue
            loaded.append(template)
        return loaded
