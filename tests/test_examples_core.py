"""The project's packs (core and containers) are well formed and honest about probes and requirements.

That they compile and run on this host is checked by test_examples_on_host.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcptrace_core.packs import TomlExamplePack
from mcptrace_core.program.parser import parse_program

CORE = TomlExamplePack.from_package("mcptrace_pack_core")
CONTAINERS = TomlExamplePack(
    Path(__file__).parents[1] / "example_packs" / "containers" / "mcptrace_pack_containers"
)
PACKS = (CORE, CONTAINERS)
EXAMPLES = {f"{pack.name}/{example.id}": example for pack in PACKS for example in pack.examples()}
CORE_EXAMPLES = {example.id: example for example in CORE.examples()}
AREAS = {
    "process",
    "syscalls",
    "files",
    "block",
    "filesystems",
    "memory",
    "scheduler",
    "cpu",
    "interrupts",
    "timers",
    "network",
    "security",
    "containers",
    "userspace",
    "ipc",
    "kvm",
    "io_uring",
    "bpf",
}


def test_the_project_packs_load_without_problems() -> None:
    assert CORE.problems == [] and CONTAINERS.problems == []
    assert CORE.name == "core" and CORE.metadata.license == "Apache-2.0"
    assert len(CORE_EXAMPLES) >= 120 and len(CONTAINERS.examples()) >= 5


def test_every_area_of_the_issue_has_several_examples() -> None:
    per_area: dict[str, int] = {}
    for example in CORE_EXAMPLES.values():
        per_area[example.category] = per_area.get(example.category, 0) + 1
    assert set(per_area) == AREAS
    assert min(per_area.values()) >= 5, per_area


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_example_is_honest_about_its_probes(key: str) -> None:
    example = EXAMPLES[key]
    attached = [spec.text for spec in parse_program(example.program).attach_points]
    assert attached == example.probes, "probes lists what the program attaches, in its order and spelling"
    assert example.source == "mcptrace"
    assert example.description.endswith((".", ")")) and len(example.description) >= 120
    if "kprobe" in example.requires or "kretprobe" in example.requires:
        assert example.id.endswith("-kprobe"), "kprobe variants say so in their id"
        assert "kprobe" in example.title and "needs kprobes" in example.description.lower()


def test_kprobe_only_examples_point_to_a_tracepoint_alternative() -> None:
    for example in CORE_EXAMPLES.values():
        if example.id.endswith("-kprobe"):
            mentioned = set(re.findall(r"\b[a-z_]+\.[a-z0-9-]+\b", example.description)) & set(CORE_EXAMPLES)
            alternatives = [CORE_EXAMPLES[o] for o in mentioned if "kprobe" not in CORE_EXAMPLES[o].requires]
            assert alternatives, f"{example.id} names no example that works without kprobes"
