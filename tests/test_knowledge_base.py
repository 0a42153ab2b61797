"""The probe knowledge base: size, coverage, no duplicates, and every fact checked against this host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcptrace_bpftrace.host import tracefs_root
from mcptrace_bpftrace.tracefs import TracefsReader
from mcptrace_knowledge.knowledge import KnowledgeError, load_knowledge, shipped_files

KB = load_knowledge()
TRACEFS = tracefs_root()


def _host_tracepoints() -> set[str] | None:
    if TRACEFS is None:
        return None
    try:
        return {
            f"tracepoint:{line.strip()}"
            for line in (TRACEFS / "available_events").read_text().splitlines()
            if line.strip()
        }
    except OSError:
        return None


HOST_TRACEPOINTS = _host_tracepoints()
needs_tracefs = pytest.mark.skipif(
    HOST_TRACEPOINTS is None, reason="needs a readable tracefs (root; .ci/run runs as root)"
)


def test_at_least_300_probes_across_the_required_subsystems() -> None:
    assert len(KB.probes) >= 300
    subsystems = {doc.subsystem for doc in KB.probes.values()}
    required = {
        "syscalls",
        "scheduler",
        "block",
        "files",
        "ext4",
        "xfs",
        "memory",
        "reclaim",
        "network",
        "netdev",
        "interrupts",
        "timers",
        "process",
        "power",
        "cgroup",
        "kvm",
        "io_uring",
        "bpf",
        "security",
        "userspace",
        "locking",
        "profiling",
    }
    assert required <= subsystems
    categories = {doc.name.split(":")[1] for doc in KB.probes.values() if doc.type == "tracepoint"}
    for needed in (
        "kmem",
        "vmscan",
        "compaction",
        "oom",
        "tcp",
        "sock",
        "skb",
        "net",
        "udp",
        "xdp",
        "irq",
        "timer",
        "workqueue",
        "signal",
        "power",
        "cgroup",
        "kvm",
        "io_uring",
        "jbd2",
        "writeback",
    ):
        assert needed in categories, needed
    uprobes = {doc.short_name for doc in KB.probes.values() if doc.type in ("uprobe", "uretprobe")}
    assert {"malloc", "free", "readline", "getaddrinfo", "SSL_read", "SSL_write", "pthread_create"} <= uprobes


def test_hand_written_entries_outnumber_generated_syscall_pairs() -> None:
    """Syscall entries become two documented probes; the rest is written probe by probe."""
    written = sum(len(re.findall(r"^\[\[probe\]\]", text, re.M)) for _, text in shipped_files())
    assert written >= 150
    assert len(KB.probes) == written + 2 * sum(
        len(re.findall(r"^\[\[syscall\]\]", text, re.M)) for _, text in shipped_files()
    )


def test_every_entry_is_complete() -> None:
    for doc in KB.probes.values():
        assert doc.fires.endswith((".", ")")) and len(doc.fires) >= 20, doc.name
        assert doc.questions, doc.name
        if doc.type == "tracepoint":
            assert doc.fields or doc.name.startswith("tracepoint:syscalls:sys_enter_"), (
                f"{doc.name} lists no field"
            )
        if doc.type in ("kprobe", "kretprobe", "uprobe", "uretprobe"):
            assert doc.args, f"{doc.name} lists no argument"
        if doc.type in ("kprobe", "kretprobe"):
            assert doc.alternative and doc.alternative in KB.probes, (
                f"{doc.name} needs a documented alternative"
            )


@needs_tracefs
def test_every_listed_field_of_every_probe_present_here_is_a_real_field() -> None:
    reader = TracefsReader(lambda: TRACEFS)
    checked = 0
    for doc in KB.probes.values():
        if doc.type != "tracepoint" or doc.name not in HOST_TRACEPOINTS:  # type: ignore[operator]
            continue
        real = {field.name for field in reader.fields(doc.name) or ()}
        unknown = [field for field in doc.fields if field not in real]
        assert not unknown, f"{doc.name}: {unknown} are not fields here (real: {sorted(real)})"
        checked += 1
    assert checked >= 450  # nearly the whole base exists on a common kernel


@needs_tracefs
def test_companions_alternatives_and_combinations_exist_in_the_base_or_on_this_host() -> None:
    def known(name: str) -> bool:
        return name in KB.probes or name in HOST_TRACEPOINTS  # type: ignore[operator]

    for doc in KB.probes.values():
        for other in [*doc.companions, *([doc.alternative] if doc.alternative else [])]:
            assert known(other), f"{doc.name} refers to unknown {other}"
    for combination in KB.combinations:
        assert all(known(name) for name in combination.probes), combination


def test_duplicates_and_unknown_keys_are_errors_naming_the_file() -> None:
    probe = '[[probe]]\nname = "tracepoint:sched:sched_switch"\nfires = "A context switch on some CPU."\nquestions = ["q?"]\n'
    head = 'subsystem = "{}"\ntitle = "T"\nabout = "Something long enough to pass."\n'
    with pytest.raises(
        KnowledgeError, match=r"b\.toml: tracepoint:sched:sched_switch is already documented in a\.toml"
    ):
        load_knowledge([("a.toml", head.format("a") + probe), ("b.toml", head.format("b") + probe)])
    with pytest.raises(KnowledgeError, match=r"c\.toml.*colour"):
        load_knowledge([("c.toml", head.format("c") + probe + 'colour = "red"\n')])
    with pytest.raises(KnowledgeError, match=r"d\.toml.*not a probe spec"):
        load_knowledge([("d.toml", head.format("d") + probe.replace("tracepoint:sched", "tracepont:sched"))])


def test_syscall_entries_document_both_ends() -> None:
    enter, exit_ = (
        KB.probes["tracepoint:syscalls:sys_enter_openat"],
        KB.probes["tracepoint:syscalls:sys_exit_openat"],
    )
    assert "filename" in enter.fields and exit_.fields == ("ret",)
    assert exit_.name in enter.companions and enter.name in exit_.companions
    assert "ENOENT" in exit_.fires


def test_the_base_is_package_data() -> None:
    import mcptrace_knowledge

    folder = Path(mcptrace_knowledge.__file__).parent / "kb"
    assert len(list(folder.glob("*.toml"))) == len(shipped_files()) >= 20
