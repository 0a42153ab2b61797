"""How BCC tools are understood: their real --help (both styles), argument rendering, output structure, CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcptrace_bcc.arguments import ArgumentError, build_invocation
from mcptrace_bcc.helpparse import parse_header_comment, parse_help
from mcptrace_analyzers.analyzers import BccAnalyzer
from mcptrace_bcc.output import BATCH_LINES, BccOutputDecoder

from mcptrace_core.cli import cli
from mcptrace_core.config import load_settings
from mcptrace_core.runs.models import RunSpec
from mcptrace_core.runs.run import Run
from tests.conftest import libbpf_tool
from tests.test_bcc import requires_bcc

PYTHON_TOOL = Path("/usr/sbin/runqlat-bpfcc")
requires_python_tools = pytest.mark.skipif(
    not PYTHON_TOOL.exists(), reason="needs bpfcc-tools (.ci/run installs it)"
)


def _help(path: str) -> str:
    completed = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10, env={"LC_ALL": "C"})
    return completed.stdout or completed.stderr


@requires_bcc
def test_argp_help_of_a_libbpf_tool() -> None:
    schema = parse_help(_help(libbpf_tool("runqlat") or "/usr/sbin/runqlat"), "runqlat")
    assert schema is not None and schema.style == "argp"
    assert schema.description.startswith("Summarize run queue")
    options = {option.name: option for option in schema.options}
    assert options["pid"].flags == ["-p", "--pid"] and options["pid"].value == "int"
    assert options["milliseconds"].value == "flag" and "help" not in options and "version" not in options
    assert [(p.name, p.value, p.required) for p in schema.positionals] == [("interval", "int", False), ("count", "int", False)]
    assert any(example.startswith("runqlat 1 10") for example in schema.examples)


@requires_bcc
def test_argp_option_and_positional_of_the_same_name_stay_apart() -> None:
    schema = parse_help(_help(libbpf_tool("hardirqs") or "/usr/sbin/hardirqs"), "hardirqs")
    assert schema is not None
    assert {"count_C", "interval"} & {option.name for option in schema.options} == {"count_C"}
    assert [p.name for p in schema.positionals] == ["interval", "count"]


@requires_python_tools
def test_argparse_help_of_a_python_tool() -> None:
    schema = parse_help(_help(str(PYTHON_TOOL)), "runqlat-bpfcc")
    assert schema is not None and schema.style == "argparse"
    options = {option.name: option for option in schema.options}
    assert options["pid"].flags == ["-p", "--pid"] and options["pid"].metavar == "PID"
    assert options["pidnss"].flags == ["--pidnss"] and options["pidnss"].value == "flag"
    assert [(p.name, p.required, p.help) for p in schema.positionals][0] == ("interval", False, "output interval, in seconds")


@requires_python_tools
def test_choices_and_optional_values_in_argparse_help() -> None:
    schema = parse_help(_help("/usr/sbin/ucalls-bpfcc" if Path("/usr/sbin/ucalls-bpfcc").exists()
                              else "/usr/sbin/javacalls-bpfcc"), "ucalls")
    assert schema is not None
    language = next(option for option in schema.options if option.name == "language")
    assert language.choices and "java" in language.choices and language.value == "str"
    assert [(p.name, p.required) for p in schema.positionals] == [("pid", True), ("interval", False)]


@requires_python_tools
def test_a_python_tool_without_argparse_is_read_from_its_header_comment() -> None:
    source = Path("/usr/sbin/dcstat-bpfcc").read_text()
    assert "argparse" not in source  # so running it with --help would start tracing
    schema = parse_header_comment(source)
    assert schema.style == "comment" and "dcache" in schema.description.lower()
    assert [(p.name, p.required) for p in schema.positionals] == [("interval", False), ("count", False)]


@requires_bcc
def test_arguments_render_as_single_words_and_fill_in_the_duration() -> None:
    schema = parse_help(_help(libbpf_tool("opensnoop") or "/usr/sbin/opensnoop"), "opensnoop")
    assert schema is not None
    invocation = build_invocation("opensnoop", schema, {"pid": 42, "-T": True, "name": "-x; rm -rf /"}, 7.5)
    assert invocation.argv == ["--pid=42", "--timestamp", "--name=-x; rm -rf /", "--duration=8"]
    assert invocation.derived == {"duration": 8} and invocation.ends_after_s == 8
    own = build_invocation("opensnoop", schema, {"duration": 3, "failed": False}, 10)
    assert own.argv == ["--duration=3"] and own.derived == {} and own.ends_after_s == 3
    with pytest.raises(ArgumentError, match=r"arguments\.pid \(-p/--pid\): expects a whole number"):
        build_invocation("opensnoop", schema, {"pid": 1.5}, 1)
    with pytest.raises(ArgumentError, match=r"arguments\.uid.*a list repeats the option; give 1 to 32"):
        build_invocation("opensnoop", schema, {"uid": []}, 1)


def _decode(lines: list[str], finish: bool = True) -> tuple[Run, BccOutputDecoder]:
    analyzer = BccAnalyzer()
    decoder = BccOutputDecoder(analyzer, analyzer.stream())
    run = Run("t", RunSpec(argv=["x"], backend="bcc", label="x", timeout_s=1, decoder=decoder),
              load_settings(Path("/nonexistent.toml")).runs)
    for line in lines:
        decoder.feed(line, run)
    if finish:
        decoder.finish(run)
    return run, decoder


def test_tables_are_paged_with_their_lines() -> None:
    lines = ["Tracing... Hit Ctrl-C to end.", "PID    COMM   FD ERR PATH", "1 a 3 0 /x y", "2 b -1 2 /z", "",
             "[10:00:00]", "SYSCALL COUNT", "read 5"]
    run, decoder = _decode(lines)
    first, second = decoder.page_tables(0, lines)
    assert first.columns == ["PID", "COMM", "FD", "ERR", "PATH"] and first.header_line == 1
    assert [row.values for row in first.rows] == [
        {"PID": 1, "COMM": "a", "FD": 3, "ERR": 0, "PATH": "/x y"}, {"PID": 2, "COMM": "b", "FD": -1, "ERR": 2, "PATH": "/z"}]
    assert second.rows[0].values == {"SYSCALL": "read", "COUNT": 5} and second.rows[0].line == 7
    (only,) = decoder.page_tables(3, lines[3:4])
    assert [row.line for row in only.rows] == [3] and only.header_line == 1 and only.columns == first.columns
    assert run.output.total == len(lines)


def test_rows_show_while_the_tool_runs_and_columns_are_typed_over_the_page() -> None:
    rows = [f"{pid} cat {'-' if pid % 2 else '0x' + str(pid)} /etc/hosts" for pid in range(1000, 1000 + BATCH_LINES + 5)]
    lines = ["PID COMM FLAGS PATH", *rows]
    _, decoder = _decode(lines, finish=False)  # a snoop tool still running: no blank line, no end yet
    (table,) = decoder.page_tables(BATCH_LINES + 1, lines[BATCH_LINES + 1:])
    assert [row.line for row in table.rows] == list(range(BATCH_LINES + 1, len(lines)))
    assert all(isinstance(row.values["PID"], int) for row in table.rows)
    assert {type(row.values["FLAGS"]) for row in table.rows} == {str}  # '-' and '0x..' in one column: text


def test_histograms_become_maps_and_a_new_printout_replaces_the_old() -> None:
    printout = ["pid = 7", "     usecs   : count    distribution", "  0 -> 1   : 2   |**  |", "  2 -> 3   : 4   |****|",
                "", "pid = 8", "     usecs   : count    distribution", "  0 -> 1   : 1   |*   |"]
    run, _ = _decode(printout + printout[:3])
    (entry,) = run.maps["usecs"].entries  # the second printout started over with pid 7 only
    assert entry.key == "pid=7" and [(b.low, b.high, b.count) for b in entry.buckets or []] == [(0, 2, 2)]
    run, _ = _decode(printout)
    assert [e.key for e in run.maps["usecs"].entries] == ["pid=7", "pid=8"]


def test_without_a_working_analyzer_the_output_stays_text() -> None:
    class Broken(BccAnalyzer):
        def parse(self, text: str):  # type: ignore[no-untyped-def]
            raise RuntimeError("a fault no real output produces")

    class BrokenStream(type(BccAnalyzer().stream())):  # type: ignore[misc]
        def take(self, final: bool = False):  # type: ignore[no-untyped-def]
            raise RuntimeError("a fault no real output produces")

    decoder = BccOutputDecoder(Broken(), BrokenStream("bcc"))
    run = Run("t", RunSpec(argv=["x"], backend="bcc", label="x", timeout_s=1, decoder=decoder),
              load_settings(Path("/nonexistent.toml")).runs)
    for line in ["SYSCALL COUNT", "read 5", ""]:
        decoder.feed(line, run)
    decoder.finish(run)
    assert run.output.total == 3 and run.maps == {} and decoder.page_tables(0, ["SYSCALL COUNT", "read 5", ""]) == []


@requires_bcc
def test_cli_bcc_run_and_list_print_one_json_document(tmp_path: Path) -> None:
    runner = CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})
    result = runner.invoke(cli, ["bcc", "run", "syscount", "-a", "top=3", "--timeout", "1", "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["status"] == "completed" and data["tables"][0]["columns"] == ["SYSCALL", "COUNT"]
    bad = runner.invoke(cli, ["bcc", "run", "syscount", "-a", "nosuch=1", "--json"])
    assert bad.exit_code == 1 and "arguments.nosuch" in json.loads(bad.stdout)["error"]
    listed = json.loads(runner.invoke(cli, ["bcc", "list", "exec", "--usable", "--json"]).stdout)
    assert "execsnoop" in [tool["name"] for tool in listed["tools"]]
    assert runner.invoke(cli, ["bcc", "--help"]).exit_code == 0
