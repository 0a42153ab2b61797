"""Output on every event of a hot probe: the classic way to make a trace hurt the host it observes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.hotness import Hotness, hotness
from mcptrace_core.program.ir import (
    Binary, Call, Cast, Field, Identifier, If, Integer, Node, Positional, String, calls_in,
)
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
    from mcptrace_core.safety.engine import RuleContext

OUTPUT_CALLS = frozenset({"printf", "print", "time", "join", "cat", "system", "errorf", "warnf", "debugf"})
_SEVERITY = {"very_high": Severity.high, "high": Severity.medium}
NARROW_SUBJECTS = frozenset({"pid", "tid", "cgroup", "comm"})
"""What a filter must compare for equality to count as one: one process, thread, cgroup or program."""
NARROW_FIELDS = frozenset({"pid", "tid", "tgid", "prev_pid", "next_pid", "child_pid", "comm", "prev_comm",
                           "next_comm", "child_comm"})
"""Fields that name one task or program (matched whole: ``ppid`` names a parent's many children)."""
_EVENT_OBJECTS = frozenset({"args", "curtask"})
_CONSTANT_CALLS = frozenset({"cgroupid"})


class HotProbeOutputRule(SafetyRule):
    """A hot probe counts as filtered only when its predicate, or the if around the output, is a narrow
    equality on pid/tid/cgroup/comm; ``/1/``, ``if (1)`` or a latency threshold may let every event through."""

    id: ClassVar[str] = "hot-probe-output"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Printing on every event of a high-frequency probe (sched_switch, raw_syscalls, irq, a fast interval, "
        "...) emits hundreds of thousands of lines a second: events are lost, the host slows down and the "
        "output is too big to read. Only a filter on one process, thread, cgroup or command is sure to be narrow."
    )
    fix: ClassVar[str] = (
        "Aggregate in a map and let it print at exit (@[comm] = count(); @us = hist($d)), or filter on one "
        '(/pid == 1234/, /comm == "nginx"/, /cgroup == cgroupid("/sys/fs/cgroup/x")/).'
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        for probe in program.probes:
            if probe.predicate is not None and is_narrow(probe.predicate):
                continue
            hottest: tuple[str, Hotness] | None = None
            for spec in probe.specs:
                heat = hotness(spec)
                if hottest is None or heat.rank > hottest[1].rank:
                    hottest = (spec.text, heat)
            if hottest is None or hottest[1].level not in _SEVERITY:
                continue
            spec_text, heat = hottest
            for call in unfiltered_calls(probe.body):
                if call.name in OUTPUT_CALLS:
                    findings.append(self.finding(
                        f"{call.name}() on every event of {spec_text} ({heat.reason}) without a narrow filter",
                        call, severity=_SEVERITY[heat.level],
                    ))
        return findings


def unfiltered_calls(body: Sequence[Node]) -> Iterator[Call]:
    """Calls that may run on every event: everywhere except the then-branch of an if with a narrow test."""
    return calls_in(body, lambda node: node.orelse if isinstance(node, If) and is_narrow(node.test) else None)


def is_narrow(test: Node) -> bool:
    """An equality on pid/tid/cgroup/comm against a constant (or a conjunction holding one)."""
    if isinstance(test, Binary):
        if test.op == "&&":
            return is_narrow(test.left) or is_narrow(test.right)
        if test.op == "||":
            return is_narrow(test.left) and is_narrow(test.right)
        if test.op == "==":
            return _one_of_many(test.left, test.right) or _one_of_many(test.right, test.left)
    return False


def _one_of_many(subject: Node, value: Node) -> bool:
    """``subject == value`` picks one task or program out of many: pid 0 is every CPU's idle task, so an
    equality with 0 narrows nothing (``/pid == 0/`` on sched_switch fires on most events)."""
    return _subject(subject) and _constant(value) and not (
        isinstance(_uncast(value), Integer) and _uncast(value).value == 0  # type: ignore[union-attr]
    )


def _subject(node: Node) -> bool:
    if isinstance(node, Call) and node.name == "str" and node.args:
        node = node.args[0]
    if isinstance(node, Identifier):
        return node.name in NARROW_SUBJECTS
    if isinstance(node, Field):  # args->next_pid, curtask->tgid, args->comm: the event's own task, named whole
        # (not args->ppid, a parent's many children, nor curtask->real_parent->pid, another task)
        own_task = isinstance(node.target, Identifier) and node.target.name in _EVENT_OBJECTS
        return own_task and node.name in NARROW_FIELDS
    return False


def _uncast(node: Node) -> Node:
    return node.operand if isinstance(node, Cast) else node


def _constant(node: Node) -> bool:
    node = _uncast(node)
    return isinstance(node, Integer | String | Positional) or (
        isinstance(node, Call) and node.name in _CONSTANT_CALLS
    )
