"""analyze_output over a real MCP session, `mcptrace analyze` on the command line, third-party kinds."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcptrace_core import hookimpl
from mcptrace_core.analysis import ParsedMap, ParsedOutput
from mcptrace_core.cli import cli
from mcptrace_core.interfaces import Analyzer
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

EXAMPLES = Path("/usr/share/doc/bpftrace/examples")
# Output of `runqlat 1 1` (libbpf-tools) captured on this kind of machine under a shell loop as load.
RUNQLAT = """Tracing run queue latency... Hit Ctrl-C to end.

     usecs               : count    distribution
         0 -> 1          : 4        |                                        |
         2 -> 3          : 305      |****************************************|
         4 -> 7          : 226      |*****************************           |
         8 -> 15         : 199      |**************************              |
        16 -> 31         : 128      |****************                        |
        32 -> 63         : 96       |************                            |
        64 -> 127        : 53       |******                                  |
       128 -> 255        : 61       |********                                |
       256 -> 511        : 73       |*********                               |
       512 -> 1023       : 24       |***                                     |
      1024 -> 2047       : 75       |*********                               |
      2048 -> 4095       : 77       |**********                              |
      4096 -> 8191       : 11       |*                                       |
"""


def _rank_bucket(text: str, q: float) -> str:
    """The bucket holding rank q*N of a BCC histogram, as bpftrace would label it, read here from its rows."""
    rows = [line.split(":") for line in text.splitlines() if "->" in line]
    buckets = [(int(span.split("->")[0]), int(span.split("->")[1]) + 1, int(rest.split()[0])) for span, rest in rows]
    total, seen = sum(count for *_, count in buckets), 0
    for low, high, count in buckets:
        seen += count
        if count and seen >= q * total:
            size = {1 << 20: "M", 1 << 10: "K"}
            label = [next((f"{v // s}{u}" for s, u in size.items() if v and v % s == 0), str(v)) for v in (low, high)]
            return f"[{label[0]}]" if high - low == 1 else f"[{label[0]}, {label[1]})"
    raise AssertionError("empty histogram")


async def test_analyze_output_returns_numbers_and_a_short_text(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("analyze_output", {"output": RUNQLAT})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["kind"] == "bcc"
    (stats,) = data["stats"]
    assert stats["count"] == 1332 and stats["unit"] == "us" and stats["modes"] == ["[2, 4)", "[2K, 4K)"]
    assert stats["p50"]["estimate"] < stats["p90"]["estimate"] < stats["p99"]["estimate"] <= 8192
    # the buckets are exact (computed here from the rows), the values inside them estimates
    assert [stats[p]["bucket"] for p in ("p50", "p90", "p99")] == [_rank_bucket(RUNQLAT, q) for q in (0.5, 0.9, 0.99)]
    assert stats["withheld"] == []
    assert {a["kind"] for a in data["anomalies"]} >= {"bimodal", "long_tail"}
    text = result.content[0].text
    assert "p99" in text and len(text) < 1500
    assert [block.type for block in result.content] == ["text"]  # no chart unless asked


async def test_chart_arrives_as_png_image_content(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("analyze_output", {"output": RUNQLAT, "chart": True})
    assert not result.is_error, result.content
    image = result.content[1]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.structured_content["chart"] == "histogram usecs"


async def test_focus_areas_and_names_narrow_the_result(client) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / "xfsdist_example.txt").read_text() if EXAMPLES.is_dir() else RUNQLAT
    result = await client.call_tool("analyze_output", {"output": text, "focus_areas": ["top"]})
    data = result.structured_content
    assert data["stats"] == [] and data["anomalies"] == [] and data["series"] == []
    assert data["top"] or not EXAMPLES.is_dir()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give exactly one of execution_id"),
        ({"output": "x", "execution_id": "abc"}, "give exactly one of execution_id"),
        ({"output": "x", "output_type": "nope"}, "known kinds: bcc, bpftrace, bpftrace_json"),
        ({"execution_id": "feedface"}, "no execution with id"),
        ({"output": "x", "focus_areas": ["everything"]}, "focus_areas"),
    ],
)
async def test_bad_arguments_say_what_is_allowed(client, arguments: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool("analyze_output", arguments)
    assert result.is_error and message in result.content[0].text


@requires_bpftrace
async def test_analyze_a_run_by_its_execution_id(client) -> None:  # type: ignore[no-untyped-def]
    program = (
        'BEGIN { printf("%-6s %s\\n", "ID", "LAT_US"); $i = (uint64)0; '
        "while ($i < 100) { @lat_us = hist($i); @n[$i % 3] = count(); "
        'if ($i % 10 == 0) { printf("%-6d %d\\n", $i, $i * 7); } $i++; } exit(); }'
    )
    run = await client.call_tool("exec_program", {"program": program, "wait": True})
    assert not run.is_error, run.content
    execution_id = run.structured_content["execution_id"]
    result = await client.call_tool("analyze_output", {"execution_id": execution_id})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["source"].startswith(f"execution {execution_id}")
    (hist,) = [m for m in data["maps"] if m["name"] == "@lat_us"]
    assert sum(bucket["count"] for bucket in hist["entries"][0]["buckets"]) == 100
    # get_result's maps come from the same decoder: identical structures
    assert sorted(data["maps"], key=lambda m: m["name"]) == sorted(
        run.structured_content["maps"], key=lambda m: m["name"]
    )
    assert data["stats"][0]["count"] == 100 and data["stats"][0]["unit"] == "us"
    (table,) = data["tables"]
    assert (
        table["columns"] == ["ID", "LAT_US"] and table["rows"] == 10 and table["slowest"][0]["LAT_US"] == 630
    )


def test_cli_prints_one_json_document_and_writes_the_chart(tmp_path: Path) -> None:
    source, chart = tmp_path / "runqlat.txt", tmp_path / "chart.png"
    source.write_text(RUNQLAT)
    result = CliRunner().invoke(cli, ["analyze", str(source), "--json", "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "bcc" and document["stats"][0]["count"] == 1332
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_cli_reads_stdin_and_speaks_plainly() -> None:
    result = CliRunner().invoke(cli, ["analyze", "-"], input=RUNQLAT)
    assert result.exit_code == 0 and result.stdout.startswith("bcc output") and "p50" in result.stdout
    empty = CliRunner().invoke(cli, ["analyze", "-", "--json"], input="")
    assert empty.exit_code == 1 and "error" in json.loads(empty.stdout)
    unknown = CliRunner().invoke(cli, ["analyze", "-", "--json", "--type", "nope"], input="x")
    assert unknown.exit_code == 1 and "known kinds" in json.loads(unknown.stdout)["error"]


class KeyValueAnalyzer(Analyzer):
    """A third party's output kind: 'name=value' lines, one map."""

    name = "keyvalue"
    description = "name=value lines"

    def detect(self, text: str) -> float:
        lines = [line for line in text.splitlines()[:50] if line.strip()]
        return 0.99 if lines and all("=" in line for line in lines) else 0.0

    def parse(self, text: str) -> ParsedOutput:
        pairs = [line.split("=", 1) for line in text.splitlines() if "=" in line]
        parsed = ParsedMap("@kv", "value", [key for key, _ in pairs], [int(value) for _, value in pairs])
        return ParsedOutput(kind=self.name, maps=[parsed])


class KeyValuePlugin:
    @hookimpl
    def mcptrace_analyzers(self) -> list[Analyzer]:
        return [KeyValueAnalyzer()]


async def test_a_plugin_adds_an_output_kind_that_is_detected(settings) -> None:  # type: ignore[no-untyped-def]
    from mcptrace_analyzers.tool import AnalyzeInput, analyze_output

    from mcptrace_core.tools import ToolCall

    pm = build_plugin_manager(plugins=[("keyvalue", KeyValuePlugin())])
    services = Services.create(settings, pm)
    try:
        text = "reads=90\nwrites=5\nopens=5\n"
        result = await analyze_output(ToolCall(services, "analyze_output"), AnalyzeInput(output=text))
    finally:
        await services.aclose()
    assert result.kind == "keyvalue"
    assert result.top[0].top[0].key == "reads" and result.top[0].top1_share == 0.9
    assert any(a.kind == "dominant_key" for a in result.anomalies)


@requires_bpftrace
async def test_a_run_with_helper_errors_keeps_every_map(client, services) -> None:  # type: ignore[no-untyped-def]
    from mcptrace_bpftrace.jsonout import JsonOutputDecoder

    from mcptrace_core.runs.models import RunSpec

    program = "BEGIN { @[1] = 1; @[2] = 2; @[3] = 3; @after = 7; exit(); }"
    spec = RunSpec(
        argv=["bpftrace", "-k", "-f", "json", "-e", program],
        backend="bpftrace",
        label=program,
        timeout_s=30,
        decoder=JsonOutputDecoder(),
        env={"BPFTRACE_MAP_KEYS_MAX": "2"},
    )
    run = await services.runs.start(spec)
    assert await run.wait_done(30)
    result = await client.call_tool("analyze_output", {"execution_id": run.id})
    data = result.structured_content
    # The third @[..]: 0.17 points at its '=' (col 34), 0.23 at its '@' (col 29).
    assert data["helper_errors"] in (["map_update_elem: Argument list too long (-7) at line 1 col 34"],
                                     ["map_update_elem: Argument list too long (-7) at line 1 col 29"])
    assert {m["name"] for m in data["maps"]} == {"@", "@after"}
    assert any(
        a["kind"] == "helper_errors" and "BPFTRACE_MAP_KEYS_MAX" in a["message"] for a in data["anomalies"]
    )


def test_cli_reports_the_printout_asked_for_and_refuses_zero() -> None:
    """Two runqlat intervals under time stamps: the latest by default, the first with --printout 1."""
    second = RUNQLAT.replace(": 305 ", ": 5   ").replace("Tracing run queue latency... Hit Ctrl-C to end.\n", "")
    text = "12:00:01\n" + RUNQLAT + "\n12:00:02\n" + second
    latest = json.loads(CliRunner().invoke(cli, ["analyze", "-", "--json"], input=text).stdout)
    first = json.loads(CliRunner().invoke(cli, ["analyze", "-", "--json", "--printout", "1"], input=text).stdout)
    assert (latest["stats"][0]["count"], latest["stats"][0]["printout"]) == (1032, 2)
    assert (first["stats"][0]["count"], first["stats"][0]["printout"]) == (1332, 1)
    (printouts,) = latest["printouts"]
    assert [item["total"] for item in printouts["items"]] == [1332, 1032] and printouts["total"] == 2364
    assert printouts["pattern"] == "per_interval" and [item["label"] for item in printouts["items"]] == ["12:00:01", "12:00:02"]
    zero = CliRunner().invoke(cli, ["analyze", "-", "--json", "--printout", "0"], input=text)
    assert zero.exit_code == 1 and "printout" in json.loads(zero.stdout)["error"]
