"""Parse bpftrace source into the program model (``ir.Program``), without bpftrace installed.

The grammar (``bpftrace.lark``, shipped as package data) is compiled once, on first use, into an LALR
parser whose callbacks build the model directly, with no intermediate tree: a 30-line program parses
in about a millisecond. Any input either parses or raises ``ProgramSyntaxError`` with a line, a column
and what was expected there; nothing else escapes.
"""

from __future__ import annotations

import re
import threading
from contextvars import ContextVar
from functools import cache
from importlib.resources import files
from typing import Any

from mcptrace_core.program import ir
from mcptrace_core.program.probespec import ProbeSpec

GRAMMAR_FILE = "bpftrace.lark"
MAX_EXPECTED_SHOWN = 8
MAX_NESTING = 200
"""Brackets open at once: real programs stay under 20; 32,000 nested parentheses took 3 s to parse."""
_NOT_CODE = re.compile(r'"(?:\\.|[^"\\\n])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_BRACKET = re.compile(r"[()\[\]{}]")

_comments: ContextVar[list[ir.Comment] | None] = ContextVar("mcptrace_program_comments", default=None)
_build_lock = threading.Lock()


class ProgramSyntaxError(ValueError):
    """The program is not valid bpftrace syntax; ``line``/``col`` are 1-based."""

    def __init__(self, message: str, line: int, col: int, expected: tuple[str, ...] = ()) -> None:
        super().__init__(f"line {line}, column {col}: {message}")
        self.message = message
        self.line = line
        self.col = col
        self.expected = expected


def parse_program(source: str) -> ir.Program:
    """The program model of ``source``; raises ProgramSyntaxError (and only that) when it does not parse."""
    from lark.exceptions import LarkError, UnexpectedInput

    _check_nesting(source)
    parser = _parser()
    comments: list[ir.Comment] = []
    token = _comments.set(comments)
    try:
        program: ir.Program = parser.parse(source)
    except UnexpectedInput as error:
        raise _syntax_error(error, source) from None
    except RecursionError:
        raise ProgramSyntaxError("the program nests too deeply to analyse", 1, 1) from None
    except LarkError as error:  # a grammar callback rejected the input
        raise ProgramSyntaxError(str(error).splitlines()[0], 1, 1) from None
    finally:
        _comments.reset(token)
    return ir.Program(
        source=source,
        probes=program.probes,
        directives=program.directives,
        declarations=program.declarations,
        config=program.config,
        comments=tuple(comments),
    )


def _check_nesting(source: str) -> None:
    """Refuse pathological nesting before lark sees it (strings and comments do not count)."""
    depth = 0
    code = _NOT_CODE.sub(lambda match: " " * len(match.group()), source)
    for bracket in _BRACKET.finditer(code):
        depth += 1 if bracket.group() in "([{" else -1
        if depth > MAX_NESTING:
            line = source.count("\n", 0, bracket.start()) + 1
            col = bracket.start() - (source.rfind("\n", 0, bracket.start()) + 1) + 1
            raise ProgramSyntaxError(f"brackets nest more than {MAX_NESTING} deep here", line, col)


def _parser() -> Any:
    """The compiled parser; built once per process, on first use (lark is imported only then)."""
    with _build_lock:
        return _build_parser()


@cache
def _build_parser() -> Any:
    from lark import Lark

    grammar = files("mcptrace_core.program").joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=_Builder(),
        lexer_callbacks={"LINE_COMMENT": _keep_comment, "BLOCK_COMMENT": _keep_comment},
        maybe_placeholders=False,
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """lark's analysis of the grammar, kept in the user's cache directory (not the shared /tmp, since
    lark reads it back with pickle): a cold start parses in 15 ms instead of 120 ms. lark keys the
    file by the grammar's hash and rebuilds it when the grammar changes or the file cannot be read."""
    from platformdirs import user_cache_path

    folder = user_cache_path("mcptrace")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    return str(folder / "bpftrace-grammar.lark-cache")


def _keep_comment(token: Any) -> Any:
    kept = _comments.get()
    if kept is not None:
        kept.append(ir.Comment(token.line, token.column, str(token)))
    return token


# -- building the model ----------------------------------------------------------------------------


def _at(token: Any) -> tuple[int, int]:
    return token.line, token.column


def _node_at(node: Any) -> tuple[int, int]:
    return (node.line, node.col) if isinstance(node, ir.Node) else _at(node)


PRECEDENCE = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
    "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}
"""Binding strength of bpftrace's (C's) binary operators."""

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a",
                   "b": "\b", "f": "\f", "v": "\v", "e": "\x1b"}


def unescape(literal: str) -> str:
    """The value of a bpftrace string literal (quotes removed, escapes resolved)."""

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] == "x" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        if escape[0] in "01234567" and (len(escape) > 1 or escape != "0"):
            return chr(int(escape, 8))
        return _SIMPLE_ESCAPES.get(escape, escape)

    return _ESCAPE.sub(replace, literal[1:-1])


def _integer_value(text: str) -> int | None:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        try:
            return int(float(text))
        except (ValueError, OverflowError):
            return None


class _DeclaredType(str):
    """The type written after ``let $x:`` (a marker while the callbacks build the statement)."""


class _Builder:
    """LALR callbacks, one per grammar rule (and alias); each gets the rule's children as a list."""

    # top level
    def start(self, items: list[Any]) -> ir.Program:
        return ir.Program(
            source="",
            probes=tuple(item for item in items if isinstance(item, ir.Probe)),
            directives=tuple(item for item in items if isinstance(item, ir.Directive)),
            declarations=tuple(item for item in items if isinstance(item, ir.Declaration)),
            config=tuple(setting for item in items if isinstance(item, tuple) for setting in item),
        )

    def config(self, children: list[Any]) -> tuple[ir.ConfigSetting, ...]:
        return tuple(child for child in children if isinstance(child, ir.ConfigSetting))

    def config_setting(self, children: list[Any]) -> ir.ConfigSetting:
        name, _, value = children
        text = str(value)
        parsed: int | str | None = _integer_value(text) if value.type == "INTEGER" else (
            unescape(text) if value.type == "STRING" else text)
        return ir.ConfigSetting(*_at(name), str(name), parsed if parsed is not None else text)

    def directive(self, children: list[Any]) -> ir.Directive:
        return ir.Directive(*_at(children[0]), str(children[0]).rstrip())

    def declaration(self, children: list[Any]) -> ir.Declaration:
        return ir.Declaration(*_at(children[0]), str(children[0]))

    def probe(self, children: list[Any]) -> ir.Probe:
        specs: tuple[ProbeSpec, ...] = children[0]
        predicate = children[1] if len(children) == 3 else None
        body: tuple[ir.Node, ...] = children[-1]
        return ir.Probe(specs[0].line, specs[0].col, specs, predicate, body)

    def attach_points(self, tokens: list[Any]) -> tuple[ProbeSpec, ...]:
        return tuple(ProbeSpec.parse(str(token), *_at(token)) for token in tokens)

    def predicate(self, children: list[Any]) -> ir.Node:
        return children[1]  # type: ignore[no-any-return]

    def body(self, children: list[Any]) -> tuple[ir.Node, ...]:
        return tuple(children[1:])

    def block(self, children: list[Any]) -> ir.Block:
        return ir.Block(*_at(children[0]), tuple(children[1:]))

    # statements
    def expr_statement(self, children: list[Any]) -> ir.ExprStatement:
        return ir.ExprStatement(*_node_at(children[0]), children[0])

    def assignment(self, children: list[Any]) -> ir.Assignment:
        target, op, value = children
        return ir.Assignment(*_node_at(target), target, str(op), value)

    def let(self, children: list[Any]) -> ir.Node:
        """``let $x: type = value`` is an assignment (data flows the same way); ``let $x`` declares only."""
        keyword, variable, *rest = children
        declared = next((str(item) for item in rest if isinstance(item, _DeclaredType)), None)
        target = ir.Variable(*_at(variable), str(variable))
        if rest and isinstance(rest[-1], ir.Node):
            return ir.Assignment(*_at(keyword), target, "=", rest[-1], declared=True, declared_type=declared)
        return ir.Declare(*_at(keyword), target, declared)

    def declared_type(self, children: list[Any]) -> _DeclaredType:
        text = " ".join(str(token) for token in children if token.type != "INTEGER")
        size = next((f"[{token}]" for token in children if token.type == "INTEGER"), "")
        return _DeclaredType(" ".join(text.split()) + size)

    def jump(self, children: list[Any]) -> ir.Jump:
        return ir.Jump(*_at(children[0]), str(children[0]), children[1] if len(children) > 1 else None)

    def if_statement(self, children: list[Any]) -> ir.If:
        keyword, test, then, *rest = children
        orelse: tuple[ir.Node, ...] = ()
        if rest:
            orelse = rest[0].statements if isinstance(rest[0], ir.Block) else (rest[0],)
        return ir.If(*_at(keyword), test, then.statements, orelse)

    def loop(self, children: list[Any]) -> ir.Loop:
        keyword, *header, block = children
        header_nodes = tuple(ir.Variable(*_at(item), str(item)) if not isinstance(item, ir.Node) else item
                             for item in header)
        return ir.Loop(*_at(keyword), str(keyword), header_nodes, block.statements)

    # expressions
    def conditional(self, children: list[Any]) -> ir.Conditional:
        test, then, orelse = children
        return ir.Conditional(*_node_at(test), test, then, orelse)

    def operation(self, children: list[Any]) -> ir.Node:
        """``a op b op c ...`` as a tree by C's precedence (all left-associative), by precedence climbing."""
        operands: list[ir.Node] = children[0::2]
        operators: list[str] = [str(op) for op in children[1::2]]
        position = 0

        def climb(left: ir.Node, floor: int) -> ir.Node:
            nonlocal position
            while position < len(operators) and PRECEDENCE[operators[position]] >= floor:
                op = operators[position]
                position += 1
                right = operands[position]
                while position < len(operators) and PRECEDENCE[operators[position]] > PRECEDENCE[op]:
                    right = climb(right, PRECEDENCE[op] + 1)
                left = ir.Binary(left.line, left.col, op, left, right)
            return left

        return climb(operands[0], 0)

    def unary(self, children: list[Any]) -> ir.Unary:
        op, operand = children
        return ir.Unary(*_at(op), str(op), operand)

    def cast(self, children: list[Any]) -> ir.Cast:
        token, operand = children
        return ir.Cast(*_at(token), " ".join(str(token)[1:-1].split()), operand)

    def field(self, children: list[Any]) -> ir.Field:
        target, *rest = children
        return ir.Field(*_node_at(target), target, str(rest[-1]), arrow=len(rest) == 2)

    def index(self, children: list[Any]) -> ir.Index:
        target, *keys = children
        return ir.Index(*_node_at(target), target, tuple(keys))

    def postfix_update(self, children: list[Any]) -> ir.PostfixUpdate:
        operand, op = children
        return ir.PostfixUpdate(*_node_at(operand), str(op), operand)

    def integer(self, children: list[Any]) -> ir.Integer:
        token = children[0]
        return ir.Integer(*_at(token), str(token), _integer_value(str(token)))

    def string(self, children: list[Any]) -> ir.String:
        return ir.String(*_at(children[0]), unescape(str(children[0])))

    def variable(self, children: list[Any]) -> ir.Variable:
        return ir.Variable(*_at(children[0]), str(children[0]))

    def positional(self, children: list[Any]) -> ir.Positional:
        return ir.Positional(*_at(children[0]), str(children[0]))

    def map(self, children: list[Any]) -> ir.MapRef:
        return ir.MapRef(*_at(children[0]), str(children[0]))

    def identifier(self, children: list[Any]) -> ir.Identifier:
        return ir.Identifier(*_at(children[0]), str(children[0]))

    def type_name(self, children: list[Any]) -> ir.TypeName:
        return ir.TypeName(*_at(children[0]), " ".join(str(children[0]).split()))

    def call(self, children: list[Any]) -> ir.Call:
        name, *args = children
        return ir.Call(*_at(name), str(name), tuple(args))

    def tuple(self, children: list[Any]) -> ir.Tuple:
        return ir.Tuple(*_node_at(children[0]), tuple(children))


# -- errors ----------------------------------------------------------------------------------------

_TERMINAL_NAMES = {
    "ATTACH_POINT": "a probe such as tracepoint:sched:sched_switch",
    "PREPROCESSOR": "a #include line",
    "C_DECLARATION": "a struct declaration",
    "NAME": "a name", "INTEGER": "a number", "STRING": "a string", "VARIABLE": "a $variable",
    "POSITIONAL": "a positional parameter ($1)", "MAP": "a @map", "CAST": "a cast such as (uint32)",
    "TYPE_NAME": "a struct type", "END_PREDICATE": "'/' closing the predicate before '{'",
    "ASSIGN_OP": "'='", "CONFIG": "a config block (config = { ... })", "EQUALITY_OP": "'==' or '!='", "RELATION_OP": "'<', '>', '<=' or '>='",
    "SHIFT_OP": "'<<' or '>>'", "$END": "the end of the program",
}
_UNTERMINATED_COMMENT = "unterminated comment: '/*' has no closing '*/'"
_PREFERRED = ("RBRACE", "SEMICOLON", "RPAR", "COMMA", "RSQB", "END_PREDICATE", "LBRACE", "ATTACH_POINT")


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except (KeyError, AttributeError):
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower().replace("_", " ")


def _expected(names: set[str] | frozenset[str]) -> tuple[str, ...]:
    ordered = sorted(names, key=lambda name: (name not in _PREFERRED, _PREFERRED.index(name) if name in _PREFERRED else 0, name))
    return tuple(_describe_terminal(name) for name in ordered)


def _syntax_error(error: Any, source: str) -> ProgramSyntaxError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lines = source.splitlines() or [""]
    if isinstance(error, UnexpectedCharacters):
        line, col = error.line, error.column
        char = source[error.pos_in_stream] if error.pos_in_stream < len(source) else ""
        expected = _expected(error.allowed or set())
        if char == '"':
            return ProgramSyntaxError("unterminated string: a string must close with '\"' on the same line", line, col)
        if source.startswith("/*", error.pos_in_stream):
            return ProgramSyntaxError(_UNTERMINATED_COMMENT, line, col)
        return ProgramSyntaxError(_with_expected(f"unexpected character {char!r}", expected), line, col, expected)
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = _expected(error.expected or set())
        if token.type == "$END":
            line = len(lines)
            message = "unexpected end of the program"
            return ProgramSyntaxError(_with_expected(message, expected), line, len(lines[-1]) + 1, expected)
        if source.startswith("/*", token.start_pos or 0) and str(token) == "/":
            return ProgramSyntaxError(_UNTERMINATED_COMMENT, token.line, token.column)
        text = str(token)
        shown = text if len(text) <= 40 else text[:37] + "..."
        return ProgramSyntaxError(_with_expected(f"unexpected {shown!r}", expected), token.line, token.column, expected)
    if isinstance(error, UnexpectedEOF):
        expected = _expected(set(error.expected or ()))
        return ProgramSyntaxError(
            _with_expected("unexpected end of the program", expected), len(lines), len(lines[-1]) + 1, expected
        )
    return ProgramSyntaxError(str(error).splitlines()[0], getattr(error, "line", 1) or 1, getattr(error, "column", 1) or 1)


def _with_expected(message: str, expected: tuple[str, ...]) -> str:
    if not expected:
        return message
    shown = ", ".join(expected[:MAX_EXPECTED_SHOWN])
    more = f" (or {len(expected) - MAX_EXPECTED_SHOWN} more)" if len(expected) > MAX_EXPECTED_SHOWN else ""
    return f"{message}; expected {shown}{more}"
