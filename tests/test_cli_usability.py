"""The command line as a new user meets it: errors in the format asked for, a way to confirm, the configured
logging level shown, install undone, terminal advice in commands rather than MCP tool names; plus the
pieces under `mcptrace setup sudo` (what reaches a command behind sudo) and list_helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from mcptrace_core.config import PrivilegeSettings
from mcptrace_core.privilege import pass_environment
from mcptrace_bpftrace.info import parse_info
from tests.conftest import IS_ROOT, requires_bpftrace

HOT_PRINTF = 'tracepoint:sched:sched_switch { printf("%s\\n", args->next_comm); exit(); }'
"""A printf on every context switch: the standard policy asks to confirm it."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


@pytest.fixture
def runner(config: Path) -> CliRunner:
    return CliRunner(env={"MCPTRACE_CONFIG": str(config)})


def _json(runner: CliRunner, *args: str) -> tuple[Any, int]:
    result = runner.invoke(cli, list(args))
    return json.loads(result.stdout), result.exit_code  # exactly one document, or this raises


def test_a_missing_program_file_is_one_json_error(runner: CliRunner, tmp_path: Path) -> None:
    for command in ("validate", "run"):
        data, code = _json(runner, command, str(tmp_path / "nosuchfile.bt"), "--json")
        assert code == 1 and data == {"error": f"{tmp_path / 'nosuchfile.bt'}: No such file or directory"}
    text = runner.invoke(cli, ["validate", str(tmp_path / "nosuchfile.bt")])
    assert text.exit_code == 1 and "No such file or directory" in text.stderr


def test_config_show_reports_the_files_logging_level(runner: CliRunner, config: Path) -> None:
    config.write_text('[logging]\nlevel = "debug"\n')
    data, code = _json(runner, "config", "show", "--json")
    assert code == 0 and data["logging"]["level"] == "debug"
    config.write_text('[logging]\nlevel = "error"\n')
    assert 'level = "error"' in runner.invoke(cli, ["config", "show"]).stdout


@requires_bpftrace
def test_run_confirm_answers_the_policys_question(runner: CliRunner, tmp_path: Path) -> None:
    program = tmp_path / "hot.bt"
    program.write_text(HOT_PRINTF)
    refused, code = _json(runner, "run", str(program), "--json", "--timeout", "20")  # no terminal: nobody to ask
    assert code == 1 and "confirm" in refused["error"]
    ran, code = _json(runner, "run", str(program), "--json", "--timeout", "20", "--confirm")
    assert code == 0 and ran["status"] == "completed" and len(ran["lines"]) >= 1, ran


def test_install_remove_takes_out_only_its_own_entry(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "claude_desktop_config.json"
    target.write_text(json.dumps({"mcpServers": {"other": {"command": "other-server"}}, "theme": "dark"}))
    added = runner.invoke(cli, ["install", "claude-desktop", "--path", str(target)])
    assert added.exit_code == 0, added.output
    assert set(json.loads(target.read_text())["mcpServers"]) == {"other", "mcptrace"}
    removed = runner.invoke(cli, ["install", "claude-desktop", "--path", str(target), "--remove"])
    assert removed.exit_code == 0 and "removed mcptrace" in removed.stdout
    assert json.loads(target.read_text()) == {"mcpServers": {"other": {"command": "other-server"}}, "theme": "dark"}
    again = runner.invoke(cli, ["install", "claude-desktop", "--path", str(target), "--remove"])
    assert again.exit_code == 0 and "nothing to remove" in again.stdout


def test_template_advice_on_the_terminal_names_commands_not_mcp_tools(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["templates", "render", "syscall_counts", "by=syscall", "--no-check"])
    assert result.exit_code == 0
    assert "mcptrace run -" in result.stderr and "exec_program" not in result.stderr


@pytest.mark.skipif(not IS_ROOT, reason="as root, mcptrace needs no prefix and the environment stays as is")
def test_as_root_the_environment_is_passed_as_usual() -> None:
    argv, env = pass_environment(PrivilegeSettings(prefix=["sudo", "-n"]), ["/usr/bin/bpftrace", "-e", "x"],
                                 {"BPFTRACE_STRLEN": "64"})
    assert argv == ["/usr/bin/bpftrace", "-e", "x"] and env == {"BPFTRACE_STRLEN": "64"}


def test_setup_sudo_print_shows_a_rule_for_the_tracers_and_writes_nothing(runner: CliRunner) -> None:
    import pwd

    name = pwd.getpwuid(65534).pw_name  # 'nobody': exists everywhere, never root
    result = runner.invoke(cli, ["setup", "sudo", "--user", name, "--print"])
    if result.exit_code != 0 and "is bpftrace installed" in result.output:
        pytest.skip("no backend names a command to run as root here (bpftrace missing)")
    assert result.exit_code == 0, result.output
    assert "#65534 ALL=(root) NOPASSWD:" in result.stdout and 'prefix = ["sudo", "-n"]' in result.stdout
    assert not Path(f"/etc/sudoers.d/mcptrace-{name}").exists()
    for word in ("/bin/sh", "/usr/bin/env", "ALL=(ALL)", "SETENV"):
        assert word not in result.stdout


BPFTRACE_017_INFO = """System
  OS: Linux 6.1.0 #1 SMP
  Arch: x86_64

Build
  version: v0.17.0
  libdw (DWARF support): yes

Kernel helpers
  probe_read: yes
  dpath: no

Kernel features
  Instruction limit: 1000000
  uprobe refcount (depends on Build:bcc bpf_attach_uprobe refcount): yes

Map types
  hash: yes
  ringbuf: no

Probe types
  kprobe: yes
  kfunc: no
"""

BPFTRACE_023_INFO = """Build
  version: v0.23.2
  liblldb (DWARF support): no

Kernel helpers
  probe_read: yes                  probe_read_str: yes
  override_return: no              get_boot_ns: yes

Probe types
  kprobe: yes                      tracepoint: yes
  iter: no
"""


def test_bpftrace_info_is_read_in_one_and_two_columns() -> None:
    old = parse_info(BPFTRACE_017_INFO)
    assert old["Kernel helpers"] == {"probe_read": "yes", "dpath": "no"}
    assert old["Kernel features"]["uprobe refcount (depends on Build:bcc bpf_attach_uprobe refcount)"] == "yes"
    assert old["System"]["OS"] == "Linux 6.1.0 #1 SMP" and old["Map types"] == {"hash": "yes", "ringbuf": "no"}
    new = parse_info(BPFTRACE_023_INFO)
    assert new["Kernel helpers"] == {"probe_read": "yes", "probe_read_str": "yes", "override_return": "no",
                                     "get_boot_ns": "yes"}
    assert new["Probe types"] == {"kprobe": "yes", "tracepoint": "yes", "iter": "no"}
    assert new["Build"]["version"] == "v0.23.2"


@requires_bpftrace
@pytest.mark.anyio
async def test_list_helpers_reports_bpftrace_and_what_was_measured(client) -> None:  # type: ignore[no-untyped-def]
    info = (await client.call_tool("bpf_info", {})).structured_content
    result = await client.call_tool("list_helpers", {})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["helpers"]["probe_read"] is True and data["map_types"]["hash"] is True
    assert info["bpftrace_version"] in data["bpftrace_version"]
    for name, probe in data["probe_types"].items():
        if name in info["probe_types"]:
            assert probe["measured_usable"] == info["probe_types"][name]["usable"], name
    assert data["probe_types"]["tracepoint"]["measured_usable"] is True
