"""`mcptrace validate`: text or exactly one JSON document, and an exit status a script can use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from tests.conftest import requires_bpftrace

pytestmark = requires_bpftrace


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(tmp_path / "absent.toml"), "validate", *args], input=stdin)
    return result.exit_code, result.stdout


def test_a_good_file_validates_with_status_0(tmp_path: Path) -> None:
    program = tmp_path / "opens.bt"
    program.write_text("tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }\n", encoding="utf-8")
    code, out = run(tmp_path, str(program))
    assert code == 0 and out.startswith("valid; verdict allow under policy standard")


@pytest.mark.parametrize(
    ("program", "status", "verdict"),
    [
        ('BEGIN { cat("/etc/shadow"); exit(); }', 2, "block"),
        ("tracepoint:syscalls:sys_enter_opennat { }", 1, "allow"),
        ('BEGIN { system("true"); }', 0, "confirm"),
    ],
)
def test_json_from_stdin_is_one_document_and_the_status_says_what_to_do(tmp_path: Path, program: str, status: int,
                                                                       verdict: str) -> None:
    code, out = run(tmp_path, "-", "--json", stdin=program)
    report = json.loads(out)
    assert code == status and report["verdict"] == verdict


def test_the_level_option_makes_it_stricter(tmp_path: Path) -> None:
    code, out = run(tmp_path, "-", "--level", "strict", stdin='tracepoint:sched:sched_switch { printf("x\\n"); }')
    assert code == 2 and "standard+strict" in out and "hot-probe-output" in out


def test_an_unknown_level_is_an_error_document(tmp_path: Path) -> None:
    code, out = run(tmp_path, "-", "--json", "--level", "lax", stdin="BEGIN { exit(); }")
    assert code == 1 and "not a known policy" in json.loads(out)["error"]


def test_run_without_a_terminal_cannot_confirm_and_refuses(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(tmp_path / "absent.toml"), "run", "-", "--json"],
                           input='BEGIN { system("echo should-not-run"); exit(); }')
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert "needs the user's confirmation" in error and "should-not-run" not in result.stdout
