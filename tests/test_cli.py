"""The command line: every data command prints exactly one JSON document with --json; run streams for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from tests.conftest import requires_bpftrace
from tests.test_stdio import MCPTRACE


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})


def _json(runner: CliRunner, *args: str, input: str | None = None) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(cli, list(args), input=input)
    return json.loads(result.stdout)  # exactly one document, or this raises


def test_plugins_json(runner: CliRunner) -> None:
    data = _json(runner, "plugins", "--json")
    by_name = {plugin["name"]: plugin for plugin in data["plugins"]}
    assert by_name["bpftrace"]["distribution"] == "mcptrace" and by_name["bpftrace"]["state"] == "loaded"
    assert "mcptrace_tools" in by_name["runs"]["hooks"]


def test_help_explains_each_command(runner: CliRunner) -> None:
    for command in ("serve", "doctor", "probes", "run", "plugins", "config", "install"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and len(result.stdout) > 150, command


@requires_bpftrace
def test_doctor_json(runner: CliRunner) -> None:
    data = _json(runner, "doctor", "--json")
    checks = {check["name"]: check for check in data["backends"]["bpftrace"]}
    assert checks["bpftrace installed"]["ok"] and checks["tracepoint probes"]["ok"]
    assert all(check["fix"] for check in checks.values() if not check["ok"])


@requires_bpftrace
def test_probes_json_and_text(runner: CliRunner) -> None:
    data = _json(runner, "probes", "t:sched:sched_process_e*", "--json")
    assert {p["name"] for p in data["probes"]} >= {"tracepoint:sched:sched_process_exec", "tracepoint:sched:sched_process_exit"}
    text = runner.invoke(cli, ["probes", "tracepoint:sched:sched_switch", "--args"]).stdout
    assert "tracepoint:sched:sched_switch" in text and "next_pid" in text


@requires_bpftrace
def test_run_streams_output_and_maps(runner: CliRunner) -> None:
    program = 'BEGIN { printf("started\\n"); } interval:ms:300 { @n = count(); exit(); }'
    result = runner.invoke(cli, ["run", "-"], input=program)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == ["Attaching 2 probes...", "started", "@n: 1"]


@requires_bpftrace
def test_run_refuses_a_program_that_does_not_validate(runner: CliRunner) -> None:
    data = _json(runner, "run", "-", "--json", input="BEGIN { nosuchfunction(); }")
    assert "line 1:9: Unknown function: nosuchfunction" in data["error"]
    result = runner.invoke(cli, ["run", "-"], input="BEGIN { nosuchfunction(); }")
    assert result.exit_code == 1 and "Unknown function: nosuchfunction" in result.stderr


@requires_bpftrace
def test_run_json_is_the_whole_result(runner: CliRunner) -> None:
    data = _json(runner, "run", "-", "--json", input='BEGIN { printf("x\\n"); @answer = 42; exit(); }')
    assert data["status"] == "completed" and data["lines"][1] == "x"
    assert data["maps"][0]["entries"][0]["value"] == 42


def test_json_errors_are_one_document(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["probes", "bad\x01filter", "--json"])
    assert result.exit_code == 1
    assert "control characters" in json.loads(result.stdout)["error"]


@requires_bpftrace
def test_ctrl_c_stops_the_program_and_prints_its_maps(tmp_path: Path) -> None:
    program = tmp_path / "count.bt"
    program.write_text('interval:ms:50 { @ticks = count(); } BEGIN { printf("ready\\n"); }', encoding="utf-8")
    env = {**os.environ, "MCPTRACE_CONFIG": str(tmp_path / "absent.toml")}
    process = subprocess.Popen([MCPTRACE, "run", str(program), "--timeout", "60"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while process.stdout.readline().strip() != "ready":
        assert time.monotonic() < deadline
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "@ticks:" in rest and "stopped with Ctrl-C" in errors


def test_install_prints_and_merges_client_config(tmp_path: Path, runner: CliRunner) -> None:
    printed = runner.invoke(cli, ["install", "claude-desktop", "--print"])
    entry = json.loads(printed.stdout)["mcpServers"]["mcptrace"]
    # The settings install ran with (here MCPTRACE_CONFIG) are the ones the client's server gets.
    assert entry["args"] == ["--config", str(tmp_path / "absent.toml"), "serve"] and os.path.isabs(entry["command"])
    config = tmp_path / "mine.toml"
    config.write_text("")
    with_config = runner.invoke(cli, ["--config", os.path.relpath(config), "install", "claude-code", "--print"])
    assert json.loads(with_config.stdout)["mcpServers"]["mcptrace"]["args"] == ["--config", str(config), "serve"]
    target = tmp_path / "claude_desktop_config.json"
    target.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}, "theme": "dark"}), encoding="utf-8")
    result = runner.invoke(cli, ["install", "claude-desktop", "--path", str(target)])
    assert result.exit_code == 0, result.output
    merged = json.loads(target.read_text(encoding="utf-8"))
    assert merged["theme"] == "dark" and set(merged["mcpServers"]) == {"other", "mcptrace"}
    assert json.loads((tmp_path / "claude_desktop_config.json.bak").read_text())["mcpServers"] == {"other": {"command": "x"}}
    code = runner.invoke(cli, ["install", "claude-code", "--path", str(tmp_path / ".mcp.json")])
    assert code.exit_code == 0
    assert "mcptrace" in json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]
    target.write_text("{broken", encoding="utf-8")
    broken = runner.invoke(cli, ["install", "claude-desktop", "--path", str(target)])
    assert broken.exit_code != 0 and "not valid JSON" in broken.output
