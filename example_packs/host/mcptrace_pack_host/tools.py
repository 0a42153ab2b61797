"""Describe the host's installed bpftrace tools (*.bt) as examples, reading them when first asked.

Each tool opens with a comment block whose first line is ``name<TAB>summary``, followed by a few
lines of explanation and then usage, copyright and history. The summary becomes the title, the
explanation the description; probes, requirements and output kind are read from the program. Nothing
is copied into mcptrace: the examples point at the file (``source = "host:/usr/sbin/x.bt"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.logging import get_logger
from mcptrace_core.models import Example
from mcptrace_core.packs.loader import parse_example

log = get_logger(__name__)

TOOL_DIRECTORIES = (Path("/usr/sbin"), Path("/usr/share/bpftrace/tools"))
"""Debian and Ubuntu install the tools into /usr/sbin; Fedora and Arch into /usr/share/bpftrace/tools."""
MAX_TOOL_BYTES = 64 * 1024
_HEADER = re.compile(r"\s*/\*(.*?)\*/", re.S)
_STOP_WORDS = ("USAGE", "Copyright", "Licensed", "This is a bpftrace version", "SEE ALSO")
_HISTORY = re.compile(r"^\d{1,2}-\w{3}-\d{4}\b")


def header_text(program: str) -> tuple[str, str]:
    """(summary, explanation) from the comment block that opens the file; empty strings when absent."""
    match = _HEADER.match(program.split("\n", 1)[1] if program.startswith("#!") else program)
    if match is None:
        return "", ""
    lines = [line.strip().lstrip("*").strip() for line in match.group(1).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "", ""
    summary = lines[0].replace("\t", " ").partition(" ")[2].strip().lstrip("-").strip()
    explanation = []
    for line in lines[1:]:
        if line.startswith(_STOP_WORDS) or _HISTORY.match(line):
            break
        if line.startswith("For Linux, uses bpftrace"):
            continue
        explanation.append(line)
    return summary, " ".join(explanation)


def tool_example(path: Path, program: str) -> Example:
    """The example describing one installed tool; a ValueError naming the file when it cannot be described."""
    from mcptrace_core.packs.describe import describe_program  # the program model loads on the first read

    summary, explanation = header_text(program)
    summary = summary or f"bpftrace tool {path.stem}"
    try:
        fields = describe_program(program, default_category="host")
    except ValueError as error:  # not bpftrace as mcptrace's parser reads it, or an unknown probe type
        raise ValueError(f"{path}: {error}") from None
    description = " ".join(
        part
        for part in (
            summary.rstrip(".") + ".",
            explanation,
            f"Installed with bpftrace as {path}; run it directly or through exec_program.",
        )
        if part
    )
    data = {
        "id": f"host.{_slug(path.stem)}",
        "title": f"{summary.rstrip('.')} ({path.name})"[:120],
        "description": description,
        "program": program,
        "tags": ["installed tool", path.stem],
        "source": f"host:{path}",
        **fields,
    }
    return parse_example(data, pack=HostToolsPack.name, where=str(path))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-") or "tool"


def tool_files(directories: Iterable[Path]) -> list[Path]:
    """Every *.bt in the directories, the first of each name winning (a tool installed twice counts once)."""
    seen: dict[str, Path] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.bt")) if directory.is_dir() else ():
            seen.setdefault(path.name, path)
    return list(seen.values())


class HostToolsPack(ExamplePack):
    name = "host"
    description = "The bpftrace tools installed on this host (*.bt), described from their header comments."

    def __init__(self, directories: Sequence[Path] = TOOL_DIRECTORIES) -> None:
        self.directories = tuple(directories)
        self._examples: list[Example] | None = None
        self.problems: list[str] = []

    def examples(self) -> Sequence[Example]:
        if self._examples is None:
            self._examples = []
            for path in tool_files(self.directories):
                try:
                    if path.stat().st_size > MAX_TOOL_BYTES:
                        raise ValueError(f"{path}: larger than {MAX_TOOL_BYTES} bytes, not a bpftrace tool")
                    self._examples.append(tool_example(path, path.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError, ValueError) as error:
                    self.problems.append(str(error))
                    log.warning("host tool skipped", path=str(path), problem=str(error))
        return self._examples
