"""discover_probes over a real MCP session: ranking, grouping, host facts, modes, bad input, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from mcptrace_core import hookimpl
from mcptrace_core.cli import cli
from mcptrace_core.config import Settings
from mcptrace_core.interfaces import Embedder
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.services import Services
from mcptrace_knowledge.knowledge import load_knowledge
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

# Goals written for these tests, with probes that must be among the first three answers.
OWN_GOALS = [
    ("run queue latency of a service", r"tracepoint:sched:sched_(wakeup|wakeup_new|switch)"),
    ("disk request latency", r"tracepoint:block:block_rq_(issue|complete)"),
    ("who sends signals to my process", r"tracepoint:(signal:signal_generate|syscalls:sys_enter_kill)"),
    ("TCP connection resets", r"tracepoint:tcp:tcp_(send|receive)_reset"),
    ("heap allocations of a C program", r"u(ret)?probe:libc:malloc"),
    ("time spent in softirqs", r"tracepoint:irq:softirq_(entry|exit)"),
    ("direct reclaim stalls", r"tracepoint:vmscan:mm_vmscan_direct_reclaim_(begin|end)"),
    ("io_uring submissions", r"tracepoint:io_uring:io_uring_submit_req"),
]
# Goals that share few words with the documentation: meaning has to carry them.
PARAPHRASES = [
    ("a program ran out of RAM and the kernel killed it", r"tracepoint:oom:mark_victim"),
    ("which commands are people typing into their terminals", r"uretprobe:/bin/bash:readline"),
    ("how long until a woken thread gets a CPU", r"tracepoint:sched:sched_(wakeup|wakeup_new|switch|waking)"),
]


def _embedding_plugins(settings: Settings) -> list[str]:
    pm = build_plugin_manager(settings.plugins.disable)
    return [
        name
        for name, plugin in pm.list_name_plugin()
        if plugin is not None and hasattr(plugin, "mcptrace_embedders")
    ]


async def _client_for(services: Services) -> Any:
    from mcp import Client

    from mcptrace_core.server import build_server

    return Client(build_server(services), mode="legacy")


@pytest.fixture
async def lexical(settings: Settings) -> AsyncIterator[Any]:
    """Every entry-point plugin except those that embed: discovery by words and names only."""
    disabled = [*settings.plugins.disable, *_embedding_plugins(settings)]
    services = Services.create(settings, build_plugin_manager(disabled))
    async with await _client_for(services) as session:
        yield session
    await services.aclose()


@pytest.fixture
async def semantic(settings: Settings) -> AsyncIterator[Any]:
    """Every entry-point plugin, the ONNX embedder included: discovery by meaning, words and names."""
    services = Services.create(settings)
    async with await _client_for(services) as session:
        yield session
    await services.aclose()


async def _discover(session: Any, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool("discover_probes", arguments)
    assert not result.is_error, result.content
    return result.structured_content


def _ranked(data: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (probe for group in data["groups"] for probe in group["probes"]), key=lambda probe: -probe["score"]
    )


@requires_bpftrace
async def test_an_answer_is_grouped_explained_and_checked_against_this_host(lexical) -> None:  # type: ignore[no-untyped-def]
    data = await _discover(lexical, goal="which files fail to open", limit=10)
    assert data["mode"] == "lexical-only" and any("semantic search is off" in note for note in data["notes"])
    assert data["total"] == sum(len(group["probes"]) for group in data["groups"]) <= 10
    assert data["groups"][0]["subsystem"] == "files" and data["groups"][0]["title"]
    top = {probe["name"]: probe for probe in _ranked(data)[:3]}
    assert "tracepoint:syscalls:sys_exit_openat" in top
    exit_openat = top["tracepoint:syscalls:sys_exit_openat"]
    assert exit_openat["fields"] == ["long ret"]  # the host's declaration, not just a name
    assert exit_openat["usable_here"] and exit_openat["exists_here"] and exit_openat["documented"]
    assert "tracepoint:syscalls:sys_enter_openat" in exit_openat["companions"]
    assert "'open'" in exit_openat["why_relevant"] and "answers:" in exit_openat["why_relevant"]
    assert any(
        set(c["probes"]) >= {"tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_exit_openat"}
        for c in data["combinations"]
    )
    text = (await lexical.call_tool("discover_probes", {"goal": "which files fail to open"})).content[0].text
    assert "sys_exit_openat" in text and "combinations:" in text


@requires_bpftrace
@pytest.mark.parametrize(("goal", "expected"), OWN_GOALS)
async def test_ranking_by_words_puts_the_right_probes_first(lexical, goal: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    names = [probe["name"] for probe in _ranked(await _discover(lexical, goal=goal))]
    assert any(re.fullmatch(expected, name) for name in names[:3]), f"{goal!r}: {names[:5]}"


@requires_bpftrace
async def test_ranking_by_meaning(semantic) -> None:  # type: ignore[no-untyped-def]
    for goal, expected in OWN_GOALS + PARAPHRASES:
        data = await _discover(semantic, goal=goal)
        assert data["mode"] == "semantic+lexical"
        names = [probe["name"] for probe in _ranked(data)]
        assert any(re.fullmatch(expected, name) for name in names[:3]), f"{goal!r}: {names[:5]}"


@requires_bpftrace
async def test_probe_types_filter(lexical) -> None:  # type: ignore[no-untyped-def]
    data = await _discover(lexical, goal="memory allocations", probe_types=["uprobe", "uretprobe"])
    types = {probe["type"] for group in data["groups"] for probe in group["probes"]}
    assert types and types <= {"uprobe", "uretprobe"}


@requires_bpftrace
async def test_probes_that_cannot_run_here_come_with_their_tracepoint_alternative(lexical) -> None:  # type: ignore[no-untyped-def]
    info = (await lexical.call_tool("bpf_info", {})).structured_content
    kprobes_work = "kprobe" in info["usable_probe_types"]
    data = await _discover(lexical, goal="kprobe vfs_read", limit=20)
    by_name = {probe["name"]: probe for probe in _ranked(data)}
    kprobe = by_name["kprobe:vfs_read"]
    assert (
        kprobe["usable_here"] is kprobes_work
        and kprobe["alternative"] == "tracepoint:syscalls:sys_enter_read"
    )
    if not kprobes_work:
        assert kprobe["exists_here"] is None
        assert by_name["tracepoint:syscalls:sys_enter_read"]["usable_here"]
        assert any("kprobes do not work" in note for note in data["notes"])
        assert (
            "NOT usable here; use tracepoint:syscalls:sys_enter_read"
            in (await lexical.call_tool("discover_probes", {"goal": "kprobe vfs_read", "limit": 20}))
            .content[0]
            .text
        )


@requires_bpftrace
async def test_a_named_probe_comes_first(lexical) -> None:  # type: ignore[no-untyped-def]
    for goal, name in [
        ("sched_switch", "tracepoint:sched:sched_switch"),
        ("t:block:block_rq_issue", "tracepoint:block:block_rq_issue"),
        ("tracepoint:block:block_rq_issue", "tracepoint:block:block_rq_issue"),
        ("what does tcp:tcp_probe show", "tracepoint:tcp:tcp_probe"),
    ]:
        ranked = _ranked(await _discover(lexical, goal=goal))
        assert ranked[0]["name"] == name, (goal, [p["name"] for p in ranked[:3]])


@requires_bpftrace
async def test_undocumented_host_probes_are_found_by_name(lexical, services) -> None:  # type: ignore[no-untyped-def]
    documented = set(load_knowledge().probes)
    names = await services.backend("bpftrace").catalog.names()
    target = next(
        n for n in names if n.startswith("tracepoint:xfs:xfs_") and n not in documented and n.count("_") >= 3
    )
    data = await _discover(lexical, goal=target.split(":")[-1], limit=5)
    probe = next(p for p in _ranked(data) if p["name"] == target)
    assert not probe["documented"] and probe["exists_here"] and probe["usable_here"]
    assert probe["fields"] and all(" " in field for field in probe["fields"])  # declarations from tracefs
    assert any(group["subsystem"] == "xfs" for group in data["groups"])


async def test_bad_arguments_name_the_field(lexical) -> None:  # type: ignore[no-untyped-def]
    for arguments, field in [
        ({"goal": "x"}, "goal"),
        ({"goal": "disk", "limit": 0}, "limit"),
        ({"goal": "disk", "probe_types": ["kprobes"]}, "probe_types"),
        ({"goal": "disk", "max": 3}, "max"),
    ]:
        result = await lexical.call_tool("discover_probes", arguments)
        assert result.is_error and field in result.content[0].text, result.content[0].text


async def test_without_the_bpftrace_backend_the_base_still_answers(settings: Settings) -> None:
    services = Services.create(settings, build_plugin_manager(["bpftrace", *_embedding_plugins(settings)]))
    async with await _client_for(services) as session:
        data = await _discover(session, goal="disk request latency")
    probes = _ranked(data)
    assert probes and all(p["exists_here"] is None and not p["usable_here"] for p in probes)
    assert any(
        "host facts unavailable" in note and "bpftrace backend is not loaded" in note
        for note in data["notes"]
    )


class BrokenEmbedderForTest(Embedder):
    """A FAKE embedder that always fails: a broken third-party embedder cannot be produced otherwise."""

    name: ClassVar[str] = "broken-for-test"
    dimensions: ClassVar[int] = 384

    @property
    def model_id(self) -> str:
        return "broken"

    def embed(self, texts: Sequence[str]) -> Any:
        raise RuntimeError("model file is corrupt")


class BrokenEmbedderPlugin:
    @hookimpl
    def mcptrace_embedders(self) -> list[Embedder]:
        return [BrokenEmbedderForTest()]


async def test_a_failing_embedder_falls_back_to_words_and_says_so(settings: Settings) -> None:
    chosen = settings.model_copy(update={"search": settings.search.model_copy(update={"embedder": "broken-for-test"})})
    disabled = ["bpftrace", *_embedding_plugins(settings)]
    services = Services.create(chosen, build_plugin_manager(disabled, plugins=[("broken", BrokenEmbedderPlugin())]))
    async with await _client_for(services) as session:
        data = await _discover(session, goal="disk request latency")
    assert data["mode"] == "lexical-only"
    assert any("broken-for-test" in note and "model file is corrupt" in note for note in data["notes"])


@requires_bpftrace
def test_cli_discover_json_and_text(tmp_path: Path) -> None:
    runner = CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})
    result = runner.invoke(
        cli, ["discover", "tcp retransmits", "--type", "tracepoint", "--limit", "3", "--json"]
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["total"] == 3
    assert {p["type"] for g in data["groups"] for p in g["probes"]} == {"tracepoint"}
    text = runner.invoke(cli, ["discover", "tcp retransmits", "--limit", "3"])
    assert "tracepoint:tcp:tcp_retransmit_skb" in text.stdout
    bad = runner.invoke(cli, ["discover", "x", "--json"])
    assert bad.exit_code == 1 and "goal" in json.loads(bad.stdout)["error"]
