"""Hybrid ranking and host awareness, on the test pack, this host's real probes and the real model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.models import Example
from mcptrace_core.search import lexical
from mcptrace_core.search.capability import Capability
from mcptrace_core.search.engine import SearchEngine
from mcptrace_core.search.host import HostView, kernel_features
from tests.conftest import requires_bpftrace
from tests.search_support import make_services

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[SearchEngine]:
    services = make_services()
    await services.search.index()
    yield services.search
    await services.aclose()


async def _skip_with_kprobes(engine: SearchEngine) -> None:
    if "kprobe" in (await engine.index()).host.usable_types:
        pytest.skip("this host has kprobes: a kprobe example runs itself and needs no alternative")


async def _ids(engine: SearchEngine, query: str, **options: object) -> list[str]:
    return [hit.capability.id for hit in await engine.search(query, **options)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("opensnoop", "files.opens"),
        ("sched_switch", "sched.switches"),
        ("t:sched:sched_switch", "sched.switches"),
        ("kprobe:tcp_retransmit_skb", "tcp.retransmits-k"),
        ("what does vfs_read return", "vfs.read-bytes"),
        ("list_probes", "list_probes"),
        ("syscall_latency", "syscall_latency"),
    ],
)
async def test_a_query_naming_something_finds_it_first(
    engine: SearchEngine, query: str, expected: str
) -> None:
    assert (await _ids(engine, query))[0] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("which files do programs open", "files.opens"),
        ("how busy is the scheduler: who gets descheduled most", "sched.switches"),
        ("what do users type in their shell", "bash.lines"),
        ("size distribution of reads", "syscalls.read-bytes"),
    ],
)
async def test_a_question_in_plain_words_finds_the_example_by_meaning(
    engine: SearchEngine, query: str, expected: str
) -> None:
    assert (await _ids(engine, query, kinds=("example",)))[0] == expected


@requires_bpftrace
async def test_each_result_says_whether_it_runs_here_and_what_is_missing(engine: SearchEngine) -> None:
    index = await engine.index()
    by_id = {c.id: a for c, a in zip(index.capabilities, index.availability, strict=True)}
    assert by_id["files.opens"].runnable and by_id["files.opens"].missing == ()
    assert by_id["bash.lines"].runnable == Path("/bin/bash").exists()
    assert by_id["libc.no-such-function"].missing == ("probe uprobe:libc:mcptrace_no_such_function",)
    assert not by_id["nowhere.events"].runnable
    assert by_id["nowhere.events"].missing == ("probe tracepoint:imaginary:thing_happened",)
    kprobes = "kprobe" in index.host.usable_types
    assert by_id["tcp.retransmits-k"].runnable is kprobes
    if not kprobes:
        assert by_id["tcp.retransmits-k"].missing == ("probe type kprobe",)
    assert by_id["list_probes"].runnable, "an MCP tool needs nothing of the host"


@requires_bpftrace
async def test_runnable_only_keeps_only_what_runs_here(engine: SearchEngine) -> None:
    hits = await engine.search(
        "tcp retransmits and vfs reads", kinds=("example",), limit=50, runnable_only=True
    )
    assert hits and all(hit.availability.runnable for hit in hits)
    shown = {hit.capability.id for hit in hits}
    assert "nowhere.events" not in shown and "tcp.retransmit-counts" in shown
    if "kprobe" not in (await engine.index()).host.usable_types:
        assert "tcp.retransmits-k" not in shown and "vfs.read-bytes" not in shown


@requires_bpftrace
async def test_a_kprobe_answer_on_a_host_without_kprobes_is_followed_by_its_alternative(
    engine: SearchEngine,
) -> None:
    await _skip_with_kprobes(engine)
    hits = await engine.search("bytes returned by the vfs_read kernel function", kinds=("example",), limit=3)
    first, second = hits[0], hits[1]
    assert first.capability.id == "vfs.read-bytes" and not first.availability.runnable
    assert first.alternative is not None and first.alternative.id == "syscalls.read-bytes"
    assert second.capability.id == "syscalls.read-bytes" and second.alternative_for is first.capability
    assert second.availability.runnable


@requires_bpftrace
async def test_the_alternative_an_example_names_is_preferred(engine: SearchEngine) -> None:
    await _skip_with_kprobes(engine)
    hits = await engine.search("kprobe:tcp_retransmit_skb", kinds=("example",), limit=2)
    assert [hit.capability.id for hit in hits] == ["tcp.retransmits-k", "tcp.retransmit-counts"]
    assert hits[0].alternative is hits[1].capability and hits[1].alternative_for is hits[0].capability


@requires_bpftrace
async def test_an_unrelated_unrunnable_example_gets_no_forced_alternative(engine: SearchEngine) -> None:
    hits = await engine.search("imaginary subsystem events", kinds=("example",), limit=2)
    assert hits[0].capability.id == "nowhere.events"
    assert hits[0].alternative is None, "a missing tracepoint is not a kprobe gap a tracepoint could fill"


async def test_tags_and_kinds_filter(engine: SearchEngine) -> None:
    network = await engine.search("anything at all", kinds=("example",), tags=["network"], limit=10)
    assert {hit.capability.id for hit in network} == {"tcp.retransmits-k", "tcp.retransmit-counts"}
    tools = await engine.search("run a program", kinds=("tool",), limit=10)
    assert tools and {hit.capability.kind for hit in tools} == {"tool"}
    bcc = await engine.search("anything", kinds=("bcc_tool",), limit=50)
    assert {hit.capability.kind for hit in bcc} == {"bcc_tool"}
    assert {hit.capability.id for hit in bcc if hit.capability.source == "search-test-bcc"} == {
        "filetop",
        "biotop",
    }
    assert await engine.search("anything", kinds=("example",), tags=["no-such-tag"]) == []


async def test_results_are_sorted_and_limited(engine: SearchEngine) -> None:
    hits = await engine.search("files", limit=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_terms_are_stemmed_and_identifiers_split() -> None:
    assert lexical.terms("Opens failing") == ["open", "fail"]
    assert lexical.terms("sys_enter_openat") == ["sys_enter_openat", "sys", "enter", "openat"]
    assert lexical.terms("who is killing processes on this machine") == ["kill", "process"]  # where, not what
    assert lexical.names_in("calls to vfs_fsync() in t:syscalls:sys_enter_sync, please") == [
        "calls",
        "to",
        "vfs_fsync",
        "in",
        "tracepoint:syscalls:sys_enter_sync",
        "please",
    ]


def _capability(*probes: str, requires: tuple[str, ...] = ()) -> Capability:
    return Capability(kind="example", id="x", title="x", text="x", probes=probes, requires=requires)


def test_availability_rules_on_a_described_host() -> None:
    host = HostView(
        usable_types=frozenset({"tracepoint", "uprobe", "BEGIN/END", "profile"}),
        probe_names=frozenset({"tracepoint:sched:sched_switch", "tracepoint:sched:sched_wakeup"}),
        features={"btf": True, "kernel_headers": False},
    )
    assert host.availability(_capability("t:sched:sched_*", "BEGIN", "profile:hz:99")).runnable
    assert host.availability(_capability("tracepoint:block:*")).missing == ("probe tracepoint:block:*",)
    assert host.availability(_capability("kretprobe:vfs_read", "kprobe:vfs_write")).missing == (
        "probe type kprobe",
    )
    assert host.availability(_capability("uprobe:/no/such/binary:f")).missing == ("binary /no/such/binary",)
    assert host.availability(_capability("uprobe:/bin/sh:main")).runnable
    assert host.availability(_capability("uretprobe:libc:malloc")).runnable
    assert host.availability(_capability("t:sched:sched_switch", requires=("kernel_headers",))).missing == (
        "feature kernel_headers",
    )
    assert host.availability(_capability(requires=("watchpoint",))).missing == ("probe type watchpoint",)
    unknown = HostView.unknown("bpftrace not found")
    assert unknown.availability(_capability("t:sched:sched_switch")).missing == (
        "bpftrace (bpftrace not found)",
    )
    assert unknown.availability(_capability()).runnable


def test_kernel_features_are_read_from_this_host() -> None:
    features = kernel_features()
    assert features["btf"] == Path("/sys/kernel/btf/vmlinux").exists()


def test_removing_house_style_lets_content_decide_across_packs() -> None:
    import numpy as np

    from mcptrace_core.search.alternatives import remove_house_style

    rng = np.random.default_rng(3)
    style, tcp, files = (rng.normal(size=64) for _ in range(3))
    noise = [rng.normal(scale=0.3, size=64) for _ in range(12)]
    host = [3 * style + tcp + noise[0], 3 * style + files + noise[1]]  # one pack, written alike
    host += [3 * style + rng.normal(size=64) for _ in range(4)]
    core = [tcp + noise[2], files + noise[3]] + [rng.normal(size=64) for _ in range(4)]
    vectors = np.array(host + core)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    raw = vectors @ vectors.T
    assert raw[0, 1] > raw[0, 6], "before: the two host texts look alike through their shared style"
    centred = remove_house_style(vectors, ["host"] * 6 + ["core"] * 6)
    assert np.allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
    after = centred @ centred.T
    assert after[0, 6] > after[0, 1], "after: the host tcp text is closest to the core tcp text"


@requires_bpftrace
async def test_results_are_in_score_order_stand_ins_included(engine: SearchEngine) -> None:
    for query in ("bytes returned by the vfs_read kernel function", "kprobe:tcp_retransmit_skb", "files and reads"):
        scores = [hit.score for hit in await engine.search(query, kinds=("example",), limit=6)]
        assert scores == sorted(scores, reverse=True), (query, scores)


class _UserPack(ExamplePack):
    name = "my-imports"
    description = "A user's imported examples (its own subject label, as an import gives)."

    def examples(self) -> list[Example]:
        return [Example(
            id="imported.read-sizes", pack=self.name,
            title="Sizes returned by the kernel VFS read function",
            description="Histogram of the sizes the kernel's VFS read function returns, seen at the read syscall exit.",
            program="tracepoint:syscalls:sys_exit_read { @sizes = hist(args->ret); }\n",
            probes=["tracepoint:syscalls:sys_exit_read"], category="imported", requires=["tracepoint"], output="hist",
        )]


class _UserPackPlugin:
    @hookimpl
    def mcptrace_example_packs(self) -> list[ExamplePack]:
        return [_UserPack()]


@requires_bpftrace
async def test_a_stand_in_is_about_the_same_subject_not_a_user_pack_s_look_alike() -> None:
    services = make_services(("my-imports", _UserPackPlugin()))
    try:
        await _skip_with_kprobes(services.search)
        hits = await services.search.search("bytes returned by the vfs_read kernel function", kinds=("example",),
                                            limit=3)
        first = hits[0]
        assert first.capability.id == "vfs.read-bytes" and first.alternative is not None
        assert first.alternative.id == "syscalls.read-bytes", "same subject (filesystem), not the imported look-alike"
    finally:
        await services.aclose()
