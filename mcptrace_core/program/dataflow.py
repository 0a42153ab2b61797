"""Where a program copies other processes' data: content, as opposed to metadata.

A trace that counts reads is metadata; one that copies the buffer of a read is the content of someone's
file, terminal or connection. The difference is where the data comes from and whether the program reads
the memory behind it, not what anything is called, so this module follows values:

- **sources** are expressions that point at other processes' data: the user buffers of syscall
  arguments (``args->buf``, ``args->ubuf``, ``args->envp``, iovecs, messages, socket options; ``argv``
  past the program name; the raw arguments of ``raw_syscalls``), every argument and return value of a
  user-space probe (uprobe, uretprobe, usdt), and kernel memory named by a literal address;
- values flow through variables (per probe) and maps (across probes), so ``@buf[tid] = args->buf`` in
  one probe and ``str(@buf[tid])`` in another is the same buffer;
- **reads** are what copy memory into the trace: ``str()``, ``buf()``, ``join()``, a dereference, and for
  user probes the direct printing of a debug-info argument; ``buf()`` of a kernel function's argument
  (raw bytes: a name would be read with ``str()``).

``content_reads`` returns each read of a source with its probe and a description of the expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mcptrace_core.program import ir
from mcptrace_core.program.probespec import KERNEL_FUNCTION_TYPES, USER_TYPES, ProbeSpec

SYSCALL_CONTENT_FIELDS = frozenset({
    "buf", "ubuf", "buff", "envp", "vec", "iov", "msg", "umsg", "mmsg", "optval", "value", "argv",
})
"""Fields of syscall tracepoints that point at user data (argv: past its first element)."""
READ_CALLS = frozenset({"str", "buf", "join", "printf_buf"})
"""Calls that copy the memory their argument points at."""
PRINT_CALLS = frozenset({"printf", "print", "errorf", "warnf"})
KERNEL_ADDRESS_MIN = 1 << 20
"""A literal this large where memory is read is an address, not an offset or a length."""
_USER_ARGUMENTS = {f"arg{index}" for index in range(16)} | {f"sarg{index}" for index in range(16)} | {"retval", "args"}


@dataclass(frozen=True)
class ContentRead:
    """One place where the program copies content into the trace."""

    at: ir.Node
    """The reading expression (a str()/buf() call, a dereference)."""
    probe: ProbeSpec
    """The first attach point of the probe where it is read."""
    kind: str
    """What the content is: 'a syscall's user buffer', 'a user function's argument', ..."""
    expression: str
    """The source expression, as text: 'args->buf', 'retval', '@buf[tid]'."""


def content_reads(program: ir.Program) -> list[ContentRead]:
    """Every read of content in ``program``, in source order."""
    tainted_maps: dict[str, tuple[str, str]] = {}
    tainted_vars: dict[tuple[int, str], tuple[str, str]] = {}
    # Values flow forward through assignments until nothing changes (each pass can only add).
    for _ in range(len(program.probes) * 4 + 4):
        changed = False
        for index, probe in enumerate(program.probes):
            for target, value in _assignments(probe):
                origin = _source(value, probe, index, tainted_maps, tainted_vars)
                if origin is None:
                    continue
                if isinstance(target, ir.MapRef) and target.name not in tainted_maps:
                    tainted_maps[target.name] = origin
                    changed = True
                elif isinstance(target, ir.Variable) and (index, target.name) not in tainted_vars:
                    tainted_vars[(index, target.name)] = origin
                    changed = True
        if not changed:
            break
    reads: list[ContentRead] = []
    for index, probe in enumerate(program.probes):
        if not probe.specs:
            continue
        for node in ir.walk(probe):
            operands = _read_operands(node, probe)
            for operand in operands:
                origin = (_source(operand, probe, index, tainted_maps, tainted_vars)
                          or _raw_kernel_copy(node, operand, probe))
                if origin is not None:
                    reads.append(ContentRead(node, probe.specs[0], origin[0], origin[1]))
                    break
    return reads


def _raw_kernel_copy(node: ir.Node, operand: ir.Node, probe: ir.Probe) -> tuple[str, str] | None:
    """buf() of a kernel function's argument copies raw bytes (a name would be read with str()): the data
    behind vfs_write's or tcp_sendmsg's pointers."""
    if not (isinstance(node, ir.Call) and node.name == "buf" and _is_kernel_function_probe(probe)):
        return None
    for inner in ir.walk(operand):
        if isinstance(inner, ir.Identifier) and inner.name in _USER_ARGUMENTS:
            return "raw bytes behind a kernel function's argument", inner.name
    return None


def _assignments(probe: ir.Probe) -> Iterator[tuple[ir.Node, ir.Node]]:
    """(map or variable, value) of every assignment, and of every for-loop over a map."""
    for node in ir.walk(probe):
        if isinstance(node, ir.Assignment):
            target = node.target.target if isinstance(node.target, ir.Index) else node.target
            yield target, node.value
        elif isinstance(node, ir.Loop) and node.kind == "for" and len(node.header) >= 2:
            yield node.header[0], node.header[1]


def _read_operands(node: ir.Node, probe: ir.Probe) -> tuple[ir.Node, ...]:
    """What ``node`` copies memory from, if it reads memory at all."""
    if isinstance(node, ir.Call) and node.name in READ_CALLS:
        return node.args[:1]
    if isinstance(node, ir.Unary) and node.op == "*":
        return () if _is_first_argv(node) else (node.operand,)
    if isinstance(node, ir.Call) and node.name in PRINT_CALLS and _is_user_probe(probe):
        # a debug-info argument of array type prints its contents without str()
        return tuple(arg for arg in node.args if _is_args_field(arg))
    return ()


def _source(
    node: ir.Node, probe: ir.Probe, index: int, maps: dict[str, tuple[str, str]],
    variables: dict[tuple[int, str], tuple[str, str]],
) -> tuple[str, str] | None:
    """(kind, expression) when ``node`` carries a pointer to content anywhere inside it."""
    stack = [node]
    while stack:
        current = stack.pop()
        direct = _direct_source(current, probe)
        if direct is not None:
            return direct
        if isinstance(current, ir.MapRef) and current.name in maps:
            return maps[current.name][0], f"{current.name} (holding {maps[current.name][1]})"
        if isinstance(current, ir.Variable) and (index, current.name) in variables:
            kind, origin = variables[(index, current.name)]
            return kind, f"{current.name} (holding {origin})"
        if _is_first_argv(current):
            continue  # argv[0], the program's name, is metadata
        stack.extend(current.children())
    return None


def _direct_source(node: ir.Node, probe: ir.Probe) -> tuple[str, str] | None:
    if isinstance(node, ir.Integer) and node.value is not None and node.value >= KERNEL_ADDRESS_MIN:
        return "memory at a literal address", node.text
    if isinstance(node, ir.Call) and node.name in ("kaddr", "uaddr"):
        return "memory at a symbol's address", f"{node.name}(...)"
    if _is_user_probe(probe) and isinstance(node, ir.Identifier) and node.name in _USER_ARGUMENTS:
        return "a user-space function's argument or return value", node.name
    if _is_user_probe(probe) and _is_args_field(node):
        return "a user-space function's argument", text_of(node)
    if isinstance(node, ir.Field) and _is_args(node.target) and node.name in SYSCALL_CONTENT_FIELDS and \
            _is_syscall_probe(probe):
        return "a syscall's user buffer (another process's data)", text_of(node)
    if isinstance(node, ir.Field) and _is_args(node.target) and node.name == "args" and _is_raw_syscall_probe(probe):
        return "a raw syscall argument (may point at user data)", text_of(node)
    return None


def _is_first_argv(node: ir.Node) -> bool:
    """``args->argv[0]`` or ``*args->argv``: the program's name."""
    if isinstance(node, ir.Index) and _is_argv(node.target):
        return len(node.keys) == 1 and isinstance(node.keys[0], ir.Integer) and node.keys[0].value == 0
    return isinstance(node, ir.Unary) and node.op == "*" and _is_argv(node.operand)


def _is_argv(node: ir.Node) -> bool:
    return isinstance(node, ir.Field) and node.name == "argv" and _is_args(node.target)


def _is_args(node: ir.Node) -> bool:
    return isinstance(node, ir.Identifier) and node.name == "args"


def _is_args_field(node: ir.Node) -> bool:
    return isinstance(node, ir.Field) and _is_args(node.target)


def _is_user_probe(probe: ir.Probe) -> bool:
    return any(spec.type in USER_TYPES for spec in probe.specs)


def _is_kernel_function_probe(probe: ir.Probe) -> bool:
    return any(spec.type in KERNEL_FUNCTION_TYPES for spec in probe.specs)


def _is_syscall_probe(probe: ir.Probe) -> bool:
    return any(
        (spec.type in ("tracepoint", "rawtracepoint") and spec.parts[:1] == ("syscalls",))
        or spec.type in ("kfunc", "kretfunc")
        for spec in probe.specs
    )


def _is_raw_syscall_probe(probe: ir.Probe) -> bool:
    return any(spec.type in ("tracepoint", "rawtracepoint") and "raw_syscalls" in spec.parts[:1] for spec in probe.specs)


def text_of(node: ir.Node) -> str:
    """A short source-like rendering of an expression, for messages."""
    if isinstance(node, ir.Identifier | ir.Variable | ir.MapRef | ir.Positional):
        return node.name
    if isinstance(node, ir.Integer):
        return node.text
    if isinstance(node, ir.String):
        return repr(node.value)
    if isinstance(node, ir.Field):
        return f"{text_of(node.target)}{'->' if node.arrow else '.'}{node.name}"
    if isinstance(node, ir.Index):
        return f"{text_of(node.target)}[{', '.join(text_of(key) for key in node.keys)}]"
    if isinstance(node, ir.Unary):
        return f"{node.op}{text_of(node.operand)}"
    if isinstance(node, ir.Call):
        return f"{node.name}({', '.join(text_of(arg) for arg in node.args)})"
    if isinstance(node, ir.Cast):
        return f"({node.type}){text_of(node.operand)}"
    if isinstance(node, ir.Binary):
        return f"{text_of(node.left)} {node.op} {text_of(node.right)}"
    return "..."
