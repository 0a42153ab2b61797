"""Read a tool's calling convention from its --help text: Python argparse and C argp styles.

argparse (the Python BCC tools)::

    usage: runqlat [-h] [-T] [-p PID] [interval] [count]
    <description>
    positional arguments:
      interval            output interval, in seconds
    options:
      -p PID, --pid PID   trace this PID only

argp (the libbpf tools)::

    Usage: runqlat [OPTION...]
    <description>
    USAGE: runqlat [--help] [-p PID] [interval] [count]     <- positionals live here, in the doc text
      -p, --pid=PID              Trace this PID only

Python tools that parse no options at all have only a header comment (``# USAGE: dcstat [interval
[count]]``); ``parse_header_comment`` reads that instead of running them with --help.
Help texts say nothing about types, so value types are inferred from the value's name (PID, INTERVAL,
...) and its help text; a wrong guess only makes a value be passed as text.
"""

from __future__ import annotations

import re

from mcptrace_bcc.schema import ToolOption, ToolPositional, ToolSchema

_ENTRY = re.compile(r"^ {1,8}(?P<spec>--?[\w?][^ ]*(?: (?! )\S+)*)(?: {2,}(?P<help>\S.*))?$")
_POSITIONAL_ENTRY = re.compile(r"^ {1,8}(?P<name>[a-z_][\w-]*|\{[\w,-]+\})(?: {2,}(?P<help>\S.*))?$")
_FORM = re.compile(r"^(?P<flag>--?[^\s=\[]+)(?:\[=(?P<optional>[^\]]+)\]|[= ](?P<value>.+))?$")
_SECTION = re.compile(r"^(?P<title>\S[^:]*):\s*$")
_SKIPPED_FLAGS = {"-h", "--help", "-?", "--usage", "-V", "--version"}
_INT_NAME = re.compile(
    r"^(PID|TID|UID|PPID|TPID|CPU|VCPU|DURATION|INTERVAL|SECONDS|COUNT|TOP(_\w+)?|MAXROWS|ROWS|MIN(IMUM)?|"
    r"MIN_\w+|(\w+_)?MAX_(?!\w*SYMBOL)\w+|\w+_DEPTH|\w+_SIZE|BUFFER_PAGES|FREQUENCY|THRESHOLD|SAMPLE_\w+|NR_\w+|"
    r"DATA(SIZE|COUNT)|"
    r"PCT|MS|US|TIME)$"
)
_LISTY = re.compile(r"comma|separated|list of|, or ", re.I)
_INT_POSITIONALS = {
    "interval", "count", "outputs", "duration", "duration_ms", "min_us", "min_ms", "min", "pid", "time", "seconds",
}
MAX_EXAMPLES = 20


def parse_help(text: str, command: str) -> ToolSchema | None:
    """The schema in a --help text, or None when it is in neither style."""
    lines = text.expandtabs().splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("usage:"):
        return _parse_argparse(lines)
    if first.startswith("Usage:"):
        return _parse_argp(lines, command)
    return None


def parse_header_comment(source: str) -> ToolSchema:
    """Description and positionals from a script's header comment (``# name  What it does.``)."""
    comments = []
    for line in source.splitlines()[1:40]:
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("#").strip())
    titled = (re.match(r"^[\w.-]+\s{2,}(\S.*)$", line) for line in comments)  # 'dcstat   What it does.'
    description = next((match[1] for match in titled if match), "")
    usage = next((line[len("USAGE:"):].strip() for line in comments if line.startswith("USAGE:")), "")
    return ToolSchema(
        description=_one_line(description), usage=usage, positionals=_usage_positionals(usage), style="comment"
    )


# -- argparse -------------------------------------------------------------------------------------


def _parse_argparse(lines: list[str]) -> ToolSchema:
    start = next(index for index, line in enumerate(lines) if line.strip())
    usage_lines = [lines[start].strip()[len("usage:"):]]
    index = start + 1
    while index < len(lines) and lines[index].strip():
        usage_lines.append(lines[index])
        index += 1
    usage = _one_line(" ".join(usage_lines))
    description: list[str] = []
    section = ""
    options: list[ToolOption] = []
    positionals: list[ToolPositional] = []
    entries = _Entries()
    for line in lines[index:]:
        header = _SECTION.match(line)
        if header and not line.startswith(" "):
            section = header["title"].lower()
            entries.close()
            continue
        if not section:
            if line.strip():
                description.append(line.strip())
            continue
        if section.startswith("example"):
            continue
        if section.startswith("positional"):
            match = _POSITIONAL_ENTRY.match(line)
            if match:
                entries.open("positional", match["name"], match["help"] or "")
                continue
        entries.feed(line)
    for kind, spec, help_text in entries.done():
        if kind == "option":
            option = _option(spec, help_text, options)
            if option is not None:
                options.append(option)
        else:
            choices = spec[1:-1].split(",") if spec.startswith("{") else None
            name = "choice" if choices else spec.replace("-", "_")
            optional = re.search(rf"\[{re.escape(spec)}(?!\w)", usage) is not None
            positionals.append(ToolPositional(
                name=name, value=_positional_type(name), required=not optional, help=help_text, choices=choices,
            ))
    return ToolSchema(
        description=_one_line(" ".join(description)), usage=usage, options=_apart(options, positionals),
        positionals=positionals, examples=_examples(lines), style="argparse",
    )


# -- argp -----------------------------------------------------------------------------------------


def _parse_argp(lines: list[str], command: str) -> ToolSchema:
    start = next(index for index, line in enumerate(lines) if line.strip())
    usage = lines[start].strip()[len("Usage:"):].strip()
    doc: list[str] = []
    entries = _Entries()
    in_options = False
    for line in lines[start + 1:]:
        if _ENTRY.match(line):
            in_options = True
        if in_options:
            entries.feed(line)
        else:
            doc.append(line)
    paragraphs = _paragraphs(doc)
    description = ""
    for paragraph in paragraphs:
        if not re.match(r"^(USAGE|EXAMPLES?)\b", paragraph[0]) and not paragraph[0].startswith((" ", "./")):
            description = _one_line(" ".join(line.strip() for line in paragraph))
            description = re.sub(rf"^{re.escape(command)}:\s*", "", description)
            break
    doc_usage = next(
        (" ".join(p) for p in paragraphs if p[0].startswith("USAGE:")), ""
    )[len("USAGE:"):]
    after_options = usage.split("[OPTION...]", 1)[1] if "[OPTION...]" in usage else ""
    positionals = _usage_positionals(f"{command} {after_options}") or _usage_positionals(doc_usage)
    options: list[ToolOption] = []
    for _, spec, help_text in entries.done():
        option = _option(spec, help_text, options)
        if option is not None:
            options.append(option)
    return ToolSchema(
        description=description, usage=_one_line(doc_usage) or usage, options=_apart(options, positionals),
        positionals=positionals, examples=_examples(lines), style="argp",
    )


# -- shared pieces --------------------------------------------------------------------------------


class _Entries:
    """Collects option entries and the help lines that continue them."""

    def __init__(self) -> None:
        self._done: list[tuple[str, str, str]] = []
        self._current: list[str] | None = None

    def open(self, kind: str, spec: str, help_text: str) -> None:
        self.close()
        self._current = [kind, spec, help_text]

    def feed(self, line: str) -> None:
        match = _ENTRY.match(line)
        if match:
            self.open("option", match["spec"], match["help"] or "")
        elif not line.strip() or not line.startswith(" "):
            self.close()
        elif self._current is not None:
            self._current[2] = f"{self._current[2]} {line.strip()}".strip()

    def close(self) -> None:
        if self._current is not None:
            kind, spec, help_text = self._current
            self._done.append((kind, spec, help_text))
            self._current = None

    def done(self) -> list[tuple[str, str, str]]:
        self.close()
        return self._done


def _option(spec: str, help_text: str, taken: list[ToolOption]) -> ToolOption | None:
    flags: list[str] = []
    metavar: str | None = None
    optional_value = False
    for form in spec.split(", "):
        match = _FORM.match(form.strip())
        if match is None:
            return None
        flags.append(match["flag"])
        if match["optional"]:
            metavar, optional_value = match["optional"], True
        elif match["value"]:
            value = match["value"].split(" ")[0]
            if value.startswith("["):  # '[SHARED]' (nargs='?') or '[PID ...]' (nargs='*')
                value, optional_value = value.strip("[]"), True
            metavar = value
    if not flags or set(flags) & _SKIPPED_FLAGS:
        return None
    choices = metavar[1:-1].split(",") if metavar and metavar.startswith("{") and metavar.endswith("}") else None
    long = next((flag[2:] for flag in flags if flag.startswith("--")), None)
    if long:
        name = long.replace("-", "_")
    elif metavar and not choices and re.fullmatch(r"[A-Za-z][\w-]*", metavar):
        name = metavar.lower().replace("-", "_")
    else:
        name = flags[0].lstrip("-")
    if any(option.name == name for option in taken):
        name = f"{name}_{flags[0].lstrip('-')}"
    help_text = _one_line(help_text)
    if metavar is None:
        value_type = "flag"
    elif choices is None and _INT_NAME.match(metavar.upper().replace("-", "_")) and not _LISTY.search(help_text):
        value_type = "int"
    else:
        value_type = "str"
    return ToolOption(
        name=name, flags=flags, value=value_type, metavar=None if choices else metavar,
        optional_value=optional_value, choices=choices, help=help_text,
    )


def _apart(options: list[ToolOption], positionals: list[ToolPositional]) -> list[ToolOption]:
    """Options renamed where a positional has their name (hardirqs: --count and [count])."""
    taken = {positional.name for positional in positionals}
    return [option.model_copy(update={"name": f"{option.name}_{option.flags[0].lstrip('-')}"})
            if option.name in taken else option for option in options]


def _usage_positionals(usage: str) -> list[ToolPositional]:
    """Positionals in a usage text: words outside option brackets; ``[word`` marks an optional one."""
    without_options = re.sub(r"\[-[^\]]*\]", " ", usage)
    words = [re.fullmatch(r"(\[*)([A-Za-z][\w-]*)\]*", token) for token in without_options.split()[1:]]
    positionals: list[ToolPositional] = []
    for match in filter(None, words):  # the command itself was skipped; '--flag]' and '|' are not words
        optional, word = bool(match[1]), match[2]
        if word in ("OPTION", "OPTIONS", "help") or any(p.name == word.lower() for p in positionals):
            continue
        name = word.lower().replace("-", "_")
        positionals.append(ToolPositional(name=name, value=_positional_type(name), required=not optional))
    return positionals


def _positional_type(name: str) -> str:
    return "int" if name in _INT_POSITIONALS else "str"


def _examples(lines: list[str]) -> list[str]:
    examples: list[str] = []
    collecting = False
    for line in lines:
        if re.match(r"^\s*examples?:\s*$", line, re.I):
            collecting = True
            continue
        if collecting:
            if _ENTRY.match(line) or (line.strip() and not line.startswith((" ", "\t", "./"))):
                break
            text = line.strip()
            if text:
                examples.append(text.removeprefix("./"))
    return [_one_line(example) for example in examples[:MAX_EXAMPLES]]


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if re.match(r"^(USAGE|EXAMPLES?):", line) and paragraphs[-1]:
            paragraphs.append([])
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [paragraph for paragraph in paragraphs if paragraph]


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
