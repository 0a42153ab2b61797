"""The built-in analyzers: which output kind a text is, and the parser for it.

Detection reads a prefix of the text only, so choosing an analyzer costs the same for 1 KB and 1 GB.
"""

from __future__ import annotations

import re

from mcptrace_analyzers.bpftrace_json import parse_ndjson
from mcptrace_analyzers.tables import header_columns
from mcptrace_analyzers.textparse import BCC_HEADER, TextParser
from mcptrace_core.analysis import ParsedOutput
from mcptrace_core.interfaces import Analyzer, OutputStream

DETECT_PREFIX = 64 * 1024
BPFTRACE_MARKS = re.compile(
    r"^(?:@\w*(?:\[.*\])?: |@\w*\[$|Attaching \d+ probes?\.\.\.$|\[[-\d.KMGTPE]+(?:, [-\d.KMGTPE]+)?\)?\s+\d+ \|)",
    re.MULTILINE,
)
JSON_EVENT = re.compile(
    r'^\{"type": ?"(?:attached_probes|printf|map|hist|stats|time|value|lost_events|helper_error)"',
    re.MULTILINE,
)


def _prefix(text: str) -> str:
    return text[:DETECT_PREFIX]


class BpftraceTextAnalyzer(Analyzer):
    name = "bpftrace"
    description = (
        "bpftrace's text output: maps (counts, sums, min/max, stack keys, tuples, strings), hist/lhist, "
        "stats/avg, printf event lines, maps printed on an interval, 'Lost N events', helper warnings"
    )

    def detect(self, text: str) -> float:
        marks = len(BPFTRACE_MARKS.findall(_prefix(text)))
        return 0.9 if marks >= 1 else 0.2  # plain event lines are bpftrace printf output by default

    def parse(self, text: str) -> ParsedOutput:
        return TextParser(self.name).parse(text)


class BpftraceJsonAnalyzer(Analyzer):
    name = "bpftrace_json"
    description = "bpftrace -f json output: one JSON object per line (map, hist, stats, printf, time, ...)"

    def detect(self, text: str) -> float:
        prefix = _prefix(text)
        events = len(JSON_EVENT.findall(prefix))
        lines = sum(1 for line in prefix.splitlines()[:200] if line.strip())
        return 0.95 if events and events >= 0.5 * min(lines, 200) else 0.3 if events else 0.0

    def parse(self, text: str) -> ParsedOutput:
        return parse_ndjson(text, self.name)


class BccAnalyzer(Analyzer):
    name = "bcc"
    description = (
        "BCC and libbpf-tools output: 'usecs : count distribution' histograms with * bars (keyed by "
        "'pid = N' lines), column tables under an upper-case header, repeated per interval"
    )

    def detect(self, text: str) -> float:
        prefix = _prefix(text)
        lines = prefix.splitlines()[:400]
        if any(BCC_HEADER.match(line) for line in lines):
            return 0.92
        if not BPFTRACE_MARKS.search(prefix) and any(header_columns(line) for line in lines[:20]):
            return 0.5  # a table with no bpftrace map in sight
        return 0.0

    def parse(self, text: str) -> ParsedOutput:
        return TextParser(self.name).parse(text)

    def stream(self) -> OutputStream:
        return TextParser(self.name)


def builtin_analyzers() -> list[Analyzer]:
    return [BpftraceTextAnalyzer(), BpftraceJsonAnalyzer(), BccAnalyzer()]
