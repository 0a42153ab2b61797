"""GPTtrace's examples.json: read it into examples, and write examples back in that format.

The format is ``{"data": [{"content": "example: <request>\\n\\n```\\n<program>\\n```"}, ...]}``.
Reading is tolerant (a missing ``example:`` prefix, a fence with a language tag, no fence at all,
text around the program); an entry that still cannot be read is reported with its index and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mcptrace_core.models import Example, ExampleDefinition
from mcptrace_core.packs.describe import describe_program
from mcptrace_core.packs.loader import parse_example

IMPORTED_CATEGORY = "imported"
_PREFIX = re.compile(r"^\s*example\s*:\s*", re.I)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)(?:^```|\Z)", re.S | re.M)


@dataclass(frozen=True)
class Entry:
    index: int
    request: str
    program: str


def read_entries(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of an examples.json document and one problem per entry that could not be read."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise ValueError('not GPTtrace examples: expected {"data": [{"content": "..."}, ...]}')
    entries, problems = [], []
    for index, item in enumerate(data):
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, str) or not content.strip():
            problems.append(f"entry {index}: no 'content' text")
            continue
        request, program = split_content(content)
        if not program:
            problems.append(f"entry {index}: no program found (expected it in a ``` fence after the request)")
            continue
        entries.append(Entry(index, request, program))
    return entries, problems


def split_content(content: str) -> tuple[str, str]:
    """(request, program) of one entry's content; the program is empty when none can be found."""
    text = _PREFIX.sub("", content.strip(), count=1)
    fence = _FENCE.search(text)
    if fence:
        return " ".join(text[: fence.start()].split()), fence.group(1).strip("\n") + "\n"
    request, _, program = text.partition("\n\n")
    return " ".join(request.split()), (program.strip("\n") + "\n") if program.strip() else ""


def to_examples(entries: Iterable[Entry], pack: str, source: str) -> tuple[list[Example], list[str]]:
    """Examples for the entries (ids made unique), and a problem for each entry that does not validate."""
    examples, problems, used = [], [], set()
    for entry in entries:
        try:
            described = describe_program(entry.program, default_category=IMPORTED_CATEGORY)
        except ValueError as error:  # not valid bpftrace, or an unknown probe type
            problems.append(f"entry {entry.index}: the program is not usable: {error}")
            continue
        if not described["probes"]:
            problems.append(f"entry {entry.index}: no probe found in the program")
            continue
        identifier = _unique(_slug(entry.request) or f"example-{entry.index}", used)
        request = entry.request or f"GPTtrace example {entry.index}"
        data = {
            "id": identifier,
            "title": _title(request),
            "description": f"{request.rstrip('.')}. Imported from {source}, entry {entry.index}.",
            "program": entry.program,
            "tags": ["imported", "gpttrace"],
            "source": f"gpttrace:{source}",
            **described,
        }
        try:
            examples.append(parse_example(data, pack=pack, where=f"entry {entry.index}"))
        except ValueError as error:
            problems.extend(str(error).splitlines())
            continue
        used.add(identifier)
    return examples, problems


def to_gpttrace(examples: Iterable[ExampleDefinition]) -> str:
    """The examples as a GPTtrace examples.json document (request = title, then the fenced program)."""
    data = [
        {"content": f"example: {example.title}\n\n```\n{example.program.rstrip()}\n```"}
        for example in examples
    ]
    return json.dumps({"data": data}, indent=2, ensure_ascii=False) + "\n"


def _slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > 60:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug if len(slug) >= 2 else ""


def _unique(identifier: str, used: set[str]) -> str:
    candidate, number = identifier, 2
    while candidate in used:
        candidate, number = f"{identifier}-{number}", number + 1
    return candidate


def _title(request: str) -> str:
    first = re.split(r"(?<=[.!?])\s", request, maxsplit=1)[0].rstrip(".")
    title = first[0].upper() + first[1:] if first else request
    return title if len(title) <= 120 else title[:117].rstrip() + "..."
