"""Packs arrive through the mcptrace_example_packs hook: core, host and user packs, each blockable."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcptrace_pack_host.tools import HostToolsPack, header_text

from mcptrace_core.config import Settings
from mcptrace_core.packs.user import load_user_packs
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import build_registry
from mcptrace_core.services import Services

pytestmark = pytest.mark.anyio

INSTALLED_TOOLS = sorted(Path("/usr/sbin").glob("*.bt"))

TOOL = """#!/usr/bin/env bpftrace
/*
 * waker	Count wakeups per waker.
 *		For Linux, uses bpftrace and eBPF.
 *
 * Shows which tasks wake which.
 *
 * USAGE: waker.bt
 *
 * Copyright 2024 Someone.
 * 01-Jan-2024	Someone	Created this.
 */

tracepoint:sched:sched_waking { @[comm, args->comm] = count(); }
"""


async def test_the_built_in_packs_come_through_entry_points(services: Services) -> None:
    packs = {pack.name: pack for pack in services.registry.example_packs}
    assert {"core", "host"} <= set(packs)
    assert services.registry.origin("example_pack", "core") == "core-examples"
    assert services.registry.origin("example_pack", "host") == "host-examples"


def test_each_pack_plugin_can_be_blocked(settings: Settings) -> None:
    registry = build_registry(build_plugin_manager(["core-examples", "host-examples"]), settings)
    assert {pack.name for pack in registry.example_packs}.isdisjoint({"core", "host"})


def test_user_packs_are_every_pack_directory_in_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    packs_dir = tmp_path / "mcptrace" / "packs"
    for name, body in (("good", 'name = "good"\ndescription = "A good user pack."\n'), ("bad", "name = 1\n")):
        (packs_dir / name / "examples").mkdir(parents=True)
        (packs_dir / name / "pack.toml").write_text(body)
    (packs_dir / "not-a-pack").mkdir()
    assert [pack.name for pack in load_user_packs(packs_dir)] == ["good"]  # the broken one is skipped
    registry = build_registry(build_plugin_manager(), settings)
    assert registry.origin("example_pack", "good") == "user-examples"


def test_a_host_tool_is_described_from_its_header_and_program(tmp_path: Path) -> None:
    (tmp_path / "waker.bt").write_text(TOOL)
    (tmp_path / "huge.bt").write_text("//" + "x" * 70_000)
    pack = HostToolsPack([tmp_path])
    [example] = pack.examples()
    assert example.id == "host.waker" and example.pack == "host"
    assert example.title == "Count wakeups per waker (waker.bt)"
    assert example.description.startswith("Count wakeups per waker. Shows which tasks wake which.")
    assert f"Installed with bpftrace as {tmp_path / 'waker.bt'}" in example.description
    assert "Copyright" not in example.description and "USAGE" not in example.description
    assert (example.probes, example.requires, example.output) == (
        ["tracepoint:sched:sched_waking"],
        ["tracepoint"],
        "map",
    )
    assert example.category == "scheduler" and example.source == f"host:{tmp_path / 'waker.bt'}"
    assert pack.problems == [f"{tmp_path / 'huge.bt'}: larger than 65536 bytes, not a bpftrace tool"]


def test_a_tool_without_a_header_still_gets_a_title() -> None:
    assert header_text("BEGIN { exit(); }") == ("", "")


@pytest.mark.skipif(
    not INSTALLED_TOOLS, reason="no bpftrace tools in /usr/sbin (the bpftrace package installs them)"
)
def test_the_host_pack_indexes_the_installed_tools_at_run_time() -> None:
    pack = HostToolsPack()
    examples = {example.id: example for example in pack.examples()}
    assert pack.problems == []
    assert len(examples) == len(INSTALLED_TOOLS)
    for path in INSTALLED_TOOLS:
        example = examples[f"host.{path.stem}"]
        assert example.program == path.read_text() and example.source == f"host:{path}"
        assert example.probes and len(example.title) >= 10 and path.name in example.title
        used = {spec.split(":", 1)[0] for spec in example.probes}
        assert used & {"kprobe", "kretprobe", "uprobe"} <= set(example.requires), example.id
