"""What a tool's installed manual page says it is for, in a few plain sentences.

A libbpf tool's --help says little ("Trace exec syscalls"); the manual page of the same tool (shipped
with bpfcc-tools, or with an upstream BCC install) says what it shows and why one would use it, which
is what a question in plain words is matched against. Read from this host when the tool is learned,
never stored in the project.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

MANUAL_DIRS = ("/usr/share/man/man8", "/usr/share/bcc/man/man8")
MAX_CHARS = 600
_ESCAPES = re.compile(r"\\f[BIRP]|\\f\(..|\\&|\\[(][a-z]{2}|\\\*\(..")
_TEXT_MACROS = frozenset({"B", "I", "BR", "IR", "BI", "RB", "RI", "IB", "SM", "SB"})
"""Requests whose arguments are text; every other request is layout (or a definition) and is skipped."""
_BREAKS = frozenset({"PP", "LP", "P", "TP", "IP", "sp"})


def manual_summary(base_name: str) -> str:
    """The manual's one-line name and first paragraph of description; '' when no manual is installed."""
    for folder in MANUAL_DIRS:
        for name in (f"{base_name}-bpfcc.8.gz", f"{base_name}.8.gz", f"{base_name}.8"):
            text = _read(Path(folder) / name)
            if text:
                return summary(text)
    return ""


def summary(roff: str) -> str:
    sections = _sections(roff)
    name = sections.get("NAME", "")
    purpose = name.split(" - ", 1)[1] if " - " in name else ""
    purpose = purpose.replace("Uses Linux eBPF/bcc.", "").strip()
    paragraph = next((part for part in sections.get("DESCRIPTION", "").split("\n\n") if part.strip()), "")
    text = " ".join(part for part in (purpose, " ".join(paragraph.split())) if part)
    return text[:MAX_CHARS].rsplit(" ", 1)[0] + "..." if len(text) > MAX_CHARS else text


def _sections(roff: str) -> dict[str, str]:
    """Section name -> its text with the formatting taken out (paragraph breaks kept as blank lines)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    defining = False
    for raw in roff.splitlines():
        line = raw.rstrip()
        if defining:  # a macro definition (.de NAME ... ..) is not text
            defining = line != ".."
            continue
        if line.startswith((".", "'")):
            request, _, arguments = line[1:].strip().partition(" ")
            if request[:2] in ("de", "am"):  # .de, .de1, .am, ...: a macro definition follows
                defining = True
            elif request == "SH":
                current = sections.setdefault(arguments.strip().strip('"').upper(), [])
            elif current is not None and request in _TEXT_MACROS:
                current.append(_text(arguments))
            elif current is not None and request in _BREAKS:
                current.append("")
            continue
        if current is not None:
            current.append(_text(line))
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _text(line: str) -> str:
    return _ESCAPES.sub("", line).replace("\\-", "-").replace("\\\\", "\\").replace('"', "")


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    try:
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError):
        return ""
    return data.decode("utf-8", "replace")
