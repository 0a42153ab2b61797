"""`mcptrace history list|show|search|export|prune` over runs made with `mcptrace run`; --json prints one document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from tests.conftest import requires_bpftrace

pytestmark = requires_bpftrace

GOOD = 'BEGIN { printf("counted %d\\n", 42); @calls = count(); exit(); }'
BAD = 'BEGIN { printf("counted %d\\n", 42) exit(); }'
UNVERIFIABLE = "BEGIN { $i = 0; while ($i >= 0) { @ = 1; } exit(); }"
"""Passes validation (bpftrace -d runs no verifier); the kernel verifier rejects it when it runs."""


@pytest.fixture
def mcptrace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCPTRACE_HISTORY__PATH", str(tmp_path / "history.sqlite3"))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, code: int = 0) -> Any:
        result = runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return json.loads(result.stdout) if "--json" in args else result.stdout

    return invoke


def test_history_commands(mcptrace: Any, tmp_path: Path) -> None:
    good = mcptrace("run", "-", "--json", stdin=GOOD)["execution_id"]
    refusal = mcptrace("run", "-", "--json", stdin=BAD, code=1)
    assert "does not pass validation" in refusal["error"]
    failed = mcptrace("run", "-", "--json", stdin=UNVERIFIABLE, code=1)["execution_id"]

    listed = mcptrace("history", "list", "--json")["runs"]
    assert [(run["id"], run["status"]) for run in listed if run["status"] != "refused"] == [(failed, "failed"),
                                                                                           (good, "completed")]
    assert [run["status"] for run in listed] == ["failed", "refused", "completed"]
    bad = listed[1]["id"]
    assert mcptrace("history", "list", "--status", "completed", "--json")["runs"][0]["id"] == good
    assert [run["id"] for run in mcptrace("history", "list", "--status", "refused", "--json")["runs"]] == [bad]
    assert good in mcptrace("history", "list") and "completed" in mcptrace("history", "list")

    shown = mcptrace("history", "show", good, "--json")
    assert shown["program"] == GOOD and "counted 42" in shown["output_head"]
    assert shown["maps"][0]["name"] == "@calls" and shown["parameters"]["argv"][-1] == GOOD
    assert shown["verdict"] == "allow" and shown["findings"] == []
    text = mcptrace("history", "show", bad)
    assert f"{bad}: refused" in text and "error [syntax]" in text and BAD in text and "output (" not in text
    assert "error [verifier]" in mcptrace("history", "show", failed)

    found = mcptrace("history", "search", "counted printf", "--no-failed", "--json")
    assert [run["id"] for run in found["runs"]] == [good] and found["search"] in ("words", "words+meaning")

    exported = tmp_path / "runs.jsonl"
    assert mcptrace("history", "export", "--output", str(exported), "--json") == {"exported": 3, "path": str(exported)}
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [record["id"] for record in records] == [good, bad, failed]
    assert [run["id"] for run in mcptrace("history", "export", "--json")["runs"]] == [good, bad, failed]
    assert len(mcptrace("history", "export").splitlines()) == 3

    assert mcptrace("history", "prune", "--max-runs", "1", "--json")["removed"] == 2
    assert [run["id"] for run in mcptrace("history", "list", "--json")["runs"]] == [failed]


def test_history_errors_are_one_json_document(mcptrace: Any) -> None:
    missing = mcptrace("history", "show", "0123456789ab", "--json", code=1)
    assert "no run '0123456789ab'" in missing["error"]
    bad_range = mcptrace("history", "list", "--since", "yesterday", "--json", code=1)
    assert "'30m', '24h'" in bad_range["error"]
    contradiction = mcptrace("history", "search", "x", "--status", "failed", "--no-failed", "--json", code=1)
    assert "contradicts" in contradiction["error"]
