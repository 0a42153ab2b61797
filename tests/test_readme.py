"""The README tells the truth about the surface: every MCP tool once, with an example call its input model
accepts, and every CLI command in the command-line section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from mcptrace_core.cli import cli
from mcptrace_core.services import Services

pytestmark = pytest.mark.anyio

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
TOOL_ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<what>.+) \| `(?P<example>\{.*\})` \|$")


def _section(title: str) -> str:
    """The text of one ``## title`` section, up to the next ``## ``."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _tool_rows() -> list[re.Match[str]]:
    return [match for line in _section("Tools").splitlines() if (match := TOOL_ROW.match(line))]


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(command, click.Group):
        return [leaf for name, sub in command.commands.items() for leaf in _commands(sub, (*path, name))]
    return [" ".join(("mcptrace", *path))]


async def test_every_tool_is_listed_once_and_nothing_else(services: Services) -> None:
    listed = [row["name"] for row in _tool_rows()]
    assert sorted(listed) == sorted(spec.name for spec in services.registry.tools)
    assert len(listed) == len(set(listed)), "a tool is listed twice"


@pytest.mark.parametrize("row", _tool_rows(), ids=lambda row: row["name"])
async def test_each_tool_example_is_a_call_the_tool_accepts(row: re.Match[str], services: Services) -> None:
    spec = services.registry.get("tool", row["name"])
    assert spec is not None, f"{row['name']} is not a registered tool"
    spec.input_model.model_validate(json.loads(row["example"]))


def test_every_cli_command_appears_in_the_command_line_section() -> None:
    section = _section("Command line")
    missing = [
        command for command in _commands(cli) if not re.search(rf"(?<![\w-]){re.escape(command)}(?![\w-])", section)
    ]
    assert missing == [], f"not in the README's command-line section: {missing}"
