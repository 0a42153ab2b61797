"""The program model: a bpftrace program as probes, predicates, statements and expressions, with positions.

Safety rules, cost estimates, packs and templates all read programs through this model, so a word in
a string literal or a comment is never mistaken for a call: calls are ``Call`` nodes, strings are
``String`` nodes and comments are kept apart in ``Program.comments``. Every node carries the 1-based
line and column where it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from mcptrace_core.program.probespec import ProbeSpec


@dataclass(frozen=True, slots=True)
class Node:
    line: int
    col: int

    children_fields: ClassVar[tuple[str, ...]] = ()
    """Fields that hold child nodes (a node or a tuple of nodes), in source order."""

    def children(self) -> Iterator[Node]:
        for name in self.children_fields:
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                yield from (item for item in value if isinstance(item, Node))


# -- expressions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Integer(Node):
    text: str
    value: int | None
    """None when the literal does not fit a Python int conversion (kept as text)."""


@dataclass(frozen=True, slots=True)
class String(Node):
    value: str
    """The literal with its escapes resolved."""


@dataclass(frozen=True, slots=True)
class Variable(Node):
    name: str
    """With its '$', e.g. '$start'."""


@dataclass(frozen=True, slots=True)
class Positional(Node):
    name: str
    """'$1', '$2', ... or '$#'."""


@dataclass(frozen=True, slots=True)
class MapRef(Node):
    name: str
    """With its '@'; the anonymous map is '@'."""


@dataclass(frozen=True, slots=True)
class Identifier(Node):
    name: str
    """A builtin (pid, comm, args, retval, ...) or a constant from a header (AF_INET)."""


@dataclass(frozen=True, slots=True)
class TypeName(Node):
    text: str
    """'struct task_struct' as an argument of sizeof() or offsetof()."""


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...] = ()

    children_fields: ClassVar[tuple[str, ...]] = ("args",)

    def string_arg(self, index: int) -> str | None:
        """The value of argument ``index`` when it is a string literal."""
        if index < len(self.args) and isinstance(self.args[index], String):
            return self.args[index].value  # type: ignore[attr-defined]
        return None


@dataclass(frozen=True, slots=True)
class Field(Node):
    target: Node
    name: str
    arrow: bool
    """True for '->', False for '.'."""

    children_fields: ClassVar[tuple[str, ...]] = ("target",)


@dataclass(frozen=True, slots=True)
class Index(Node):
    target: Node
    keys: tuple[Node, ...]

    children_fields: ClassVar[tuple[str, ...]] = ("target", "keys")


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node

    children_fields: ClassVar[tuple[str, ...]] = ("operand",)


@dataclass(frozen=True, slots=True)
class PostfixUpdate(Node):
    op: str
    operand: Node

    children_fields: ClassVar[tuple[str, ...]] = ("operand",)


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    children_fields: ClassVar[tuple[str, ...]] = ("left", "right")


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    test: Node
    then: Node
    orelse: Node

    children_fields: ClassVar[tuple[str, ...]] = ("test", "then", "orelse")


@dataclass(frozen=True, slots=True)
class Cast(Node):
    type: str
    operand: Node

    children_fields: ClassVar[tuple[str, ...]] = ("operand",)


@dataclass(frozen=True, slots=True)
class Tuple(Node):
    items: tuple[Node, ...]

    children_fields: ClassVar[tuple[str, ...]] = ("items",)


# -- statements ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExprStatement(Node):
    expr: Node

    children_fields: ClassVar[tuple[str, ...]] = ("expr",)


@dataclass(frozen=True, slots=True)
class Assignment(Node):
    target: Node
    op: str
    value: Node
    declared: bool = False
    """True for ``let $x = value`` (bpftrace >= 0.22): data flows as in any assignment."""
    declared_type: str | None = None
    """The type of ``let $x: uint8 = value``."""

    children_fields: ClassVar[tuple[str, ...]] = ("target", "value")


@dataclass(frozen=True, slots=True)
class Declare(Node):
    """``let $x;`` or ``let $x: type;`` (bpftrace >= 0.22): a variable scoped to its block, zero until assigned."""

    target: Variable
    declared_type: str | None = None

    children_fields: ClassVar[tuple[str, ...]] = ("target",)


@dataclass(frozen=True, slots=True)
class Jump(Node):
    kind: str
    """'return', 'break' or 'continue'."""
    value: Node | None = None

    children_fields: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, slots=True)
class If(Node):
    test: Node
    then: tuple[Node, ...]
    orelse: tuple[Node, ...] = ()

    children_fields: ClassVar[tuple[str, ...]] = ("test", "then", "orelse")


@dataclass(frozen=True, slots=True)
class Loop(Node):
    kind: str
    """'while', 'unroll' or 'for'."""
    header: tuple[Node, ...]
    """The condition (while), the count (unroll), or the variable and the map (for)."""
    body: tuple[Node, ...]

    children_fields: ClassVar[tuple[str, ...]] = ("header", "body")


@dataclass(frozen=True, slots=True)
class Block(Node):
    statements: tuple[Node, ...]

    children_fields: ClassVar[tuple[str, ...]] = ("statements",)


CONDITIONAL_NODES = (If, Conditional, Loop)
"""Nodes whose inner statements run only for some events: a filter in all but name."""

# -- the program -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe(Node):
    specs: tuple[ProbeSpec, ...]
    predicate: Node | None
    body: tuple[Node, ...]

    children_fields: ClassVar[tuple[str, ...]] = ("predicate", "body")

    def calls(self) -> Iterator[Call]:
        """Every call in the predicate and the body, in source order."""
        return (node for node in walk(self) if isinstance(node, Call))

    def unconditional_calls(self) -> Iterator[Call]:
        """Calls that run on every event of the probe: not under an if, a ?: or a loop."""
        return calls_in(self.body, lambda node: () if isinstance(node, CONDITIONAL_NODES) else None)


def calls_in(body: Sequence[Node], instead: Callable[[Node], Sequence[Node] | None]) -> Iterator[Call]:
    """The calls in ``body``, in order; where ``instead(node)`` gives nodes, only those are walked in its
    place (``()`` skips it): how a rule leaves out the parts of a probe that do not run on every event."""
    stack: list[Node] = list(reversed(body))
    while stack:
        node = stack.pop()
        replacement = instead(node)
        if replacement is not None:
            stack.extend(reversed(replacement))
            continue
        if isinstance(node, Call):
            yield node
        stack.extend(reversed(list(node.children())))


@dataclass(frozen=True, slots=True)
class Directive(Node):
    text: str
    """A preprocessor line such as '#include <net/sock.h>' (or the shebang line)."""


@dataclass(frozen=True, slots=True)
class Declaration(Node):
    text: str
    """A C struct/union/enum/typedef declaration, passed to clang as it is."""


@dataclass(frozen=True, slots=True)
class Comment(Node):
    text: str


@dataclass(frozen=True, slots=True)
class ConfigSetting(Node):
    """One setting of a ``config = { name = value; ... }`` block (bpftrace >= 0.21).

    bpftrace reads its limits from these too, but a BPFTRACE_* environment variable wins over the block
    (measured on 0.23), so a policy's limits, always passed by environment, still hold."""

    name: str
    value: int | str


@dataclass(frozen=True, slots=True)
class Program:
    source: str
    probes: tuple[Probe, ...]
    directives: tuple[Directive, ...] = ()
    declarations: tuple[Declaration, ...] = ()
    comments: tuple[Comment, ...] = ()
    config: tuple[ConfigSetting, ...] = ()

    @property
    def specs(self) -> list[ProbeSpec]:
        """Every attach point of every probe, in source order."""
        return [spec for probe in self.probes for spec in probe.specs]

    @property
    def attach_points(self) -> list[ProbeSpec]:
        """Each attach point once, where it is first written, in source order: what the program attaches."""
        first: dict[str, ProbeSpec] = {}
        for spec in self.specs:
            first.setdefault(spec.text, spec)
        return list(first.values())

    def calls(self, name: str | None = None) -> list[Call]:
        """Every call in the program (only those to ``name`` when given), in source order."""
        return [node for node in walk(self) if isinstance(node, Call) and (name is None or node.name == name)]

    def maps(self) -> list[str]:
        """The names of the maps the program uses, each once, in order of first use."""
        return list(dict.fromkeys(node.name for node in walk(self) if isinstance(node, MapRef)))

    def strings(self) -> list[String]:
        return [node for node in walk(self) if isinstance(node, String)]


def walk(root: Node | Program) -> Iterator[Node]:
    """Every node under ``root`` in source order (depth first, without recursion, so depth is free)."""
    stack: list[Node] = list(reversed(root.probes)) if isinstance(root, Program) else [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.children())))
