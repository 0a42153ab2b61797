"""GPTtrace compatibility and the examples commands: import into a user pack, list, show, export, check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from mcptrace_core.packs.gpttrace import split_content

# Written for this test in GPTtrace's examples.json format; entries 3, 4 and 5 cannot be imported.
ENTRIES: list[Any] = [
    {
        "content": "example: Count the system calls each process makes\n\n```\n"
        "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }\n```"
    },
    {
        "content": "example: Show which files get opened\n\n```bpftrace\n"
        'tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args->filename)); }\n```\nThat is all.'
    },
    {
        "content": "Histogram of read sizes\n\n"
        "tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes = hist(args->ret); }"
    },
    {"title": "no content here"},
    {"content": "example: only a request and no program"},
    {"content": "example: a program without probes\n\n```\n// nothing to attach\n```"},
    {
        "content": "example: Count the system calls each process makes\n\n```\n"
        "tracepoint:raw_syscalls:sys_exit { @[comm] = count(); }\n```"
    },
    {"content": "example: Count VFS reads per process\n\n```\nkprobe:vfs_read { @[comm] = count(); }\n```"},
]


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "mcptrace" / "packs"


@pytest.fixture
def gpttrace_file(tmp_path: Path) -> Path:
    path = tmp_path / "examples.json"
    path.write_text(json.dumps({"data": ENTRIES}))
    return path


def mcptrace(*args: str | Path) -> tuple[int, Any]:
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    output = result.stdout
    return result.exit_code, json.loads(output) if "--json" in args else output


def test_split_content_is_tolerant_of_prefix_fences_and_extra_text() -> None:
    assert split_content("example: Trace x\n\n```\nBEGIN { exit(); }\n```") == (
        "Trace x",
        "BEGIN { exit(); }\n",
    )
    assert split_content("Trace y\n```c\nEND { }\n``` trailing") == ("Trace y", "END { }\n")
    assert split_content("EXAMPLE:  Trace z\n\nBEGIN { }") == ("Trace z", "BEGIN { }\n")
    assert split_content("example: nothing else") == ("nothing else", "")


def test_import_writes_a_user_pack_and_reports_what_it_skipped(user_data: Path, gpttrace_file: Path) -> None:
    code, result = mcptrace("examples", "import", gpttrace_file, "--pack", "mine", "--json")
    assert code == 0 and result["imported"] == 5 and result["directory"] == str(user_data / "mine")
    assert [problem.split(":")[0] for problem in result["skipped"]] == ["entry 3", "entry 4", "entry 5"]
    assert "no probe found" in result["skipped"][2]

    code, listed = mcptrace("examples", "list", "--pack", "mine", "--json")
    by_id = {example["id"]: example for example in listed["examples"]}
    assert set(by_id) == {
        "count-the-system-calls-each-process-makes",
        "count-the-system-calls-each-process-makes-2",
        "show-which-files-get-opened",
        "histogram-of-read-sizes",
        "count-vfs-reads-per-process",
    }
    assert by_id["count-vfs-reads-per-process"]["requires"] == ["kprobe"]
    assert by_id["count-vfs-reads-per-process"]["category"] == "files"
    assert by_id["histogram-of-read-sizes"]["output"] == "hist"
    assert by_id["show-which-files-get-opened"]["source"] == "gpttrace:examples.json"

    code, shown = mcptrace("examples", "show", "show-which-files-get-opened", "--json")
    assert shown["pack"] == "mine" and shown["probes"] == ["tracepoint:syscalls:sys_enter_openat"]
    assert (
        shown["program"] == 'tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args->filename)); }\n'
    )


def test_import_refuses_to_overwrite_or_to_shadow_an_installed_pack(
    user_data: Path, gpttrace_file: Path
) -> None:
    assert mcptrace("examples", "import", gpttrace_file, "--pack", "mine", "--json")[0] == 0
    code, result = mcptrace("examples", "import", gpttrace_file, "--pack", "mine", "--json")
    assert code == 1 and "already exists" in result["error"] and "--replace" in result["error"]
    assert mcptrace("examples", "import", gpttrace_file, "--pack", "mine", "--replace", "--json")[0] == 0
    code, result = mcptrace("examples", "import", gpttrace_file, "--pack", "core", "--json")
    assert code == 1 and "installed pack" in result["error"]
    code, result = mcptrace("examples", "import", gpttrace_file, "--pack", "Not A Name", "--json")
    assert code == 1 and "--pack" in result["error"]


def test_import_of_a_file_that_is_not_gpttrace_says_why(user_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"examples": []}')
    code, result = mcptrace("examples", "import", bad, "--json")
    assert code == 1 and 'expected {"data"' in result["error"]
    bad.write_text("not json at all")
    assert "not JSON" in mcptrace("examples", "import", bad, "--json")[1]["error"]


def test_export_round_trips_through_gpttrace_and_toml(
    user_data: Path, gpttrace_file: Path, tmp_path: Path
) -> None:
    mcptrace("examples", "import", gpttrace_file, "--pack", "mine", "--json")
    code, exported = mcptrace("examples", "export", "--pack", "mine")
    document = json.loads(exported)
    assert code == 0 and len(document["data"]) == 5
    assert all(
        entry["content"].startswith("example: ") and "\n\n```\n" in entry["content"]
        for entry in document["data"]
    )
    again = tmp_path / "again.json"
    again.write_text(exported)
    assert mcptrace("examples", "import", again, "--pack", "again", "--json")[1]["imported"] == 5
    first = {e["title"] for e in mcptrace("examples", "list", "--pack", "mine", "--json")[1]["examples"]}
    second = {e["title"] for e in mcptrace("examples", "list", "--pack", "again", "--json")[1]["examples"]}
    assert first == second

    code, _ = mcptrace(
        "examples", "export", "--pack", "core", "--format", "toml", "--output", tmp_path / "mypack"
    )
    assert code == 0
    code, checked = mcptrace("examples", "check", tmp_path / "mypack", "--json")
    assert code == 0 and checked["problems"] == [] and checked["valid_examples"] >= 120


def test_list_and_show_explain_unknown_names(user_data: Path) -> None:
    code, result = mcptrace("examples", "list", "--pack", "nope", "--json")
    assert code == 1 and "no example pack named 'nope'" in result["error"] and "core" in result["error"]
    code, result = mcptrace("examples", "show", "no.such-example", "--json")
    assert code == 1 and "no example 'no.such-example'" in result["error"]
    code, text = mcptrace("examples", "show", "sched.runqueue-latency")
    assert code == 0 and "requires: tracepoint" in text and "tracepoint:sched:sched_switch" in text
