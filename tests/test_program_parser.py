"""The bpftrace parser: every host tool parses, the model is right, errors are located, nothing crashes."""

from __future__ import annotations

import glob

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcptrace_core.config import Settings
from mcptrace_core.program import ir
from mcptrace_core.program.parser import ProgramSyntaxError, parse_program, unescape
from mcptrace_core.services import Services

HOST_TOOLS = sorted(glob.glob("/usr/sbin/*.bt"))


@pytest.mark.skipif(not HOST_TOOLS, reason="the bpftrace package's tools (/usr/sbin/*.bt) are not installed")
@pytest.mark.parametrize("path", HOST_TOOLS, ids=lambda path: path.rsplit("/", 1)[-1])
def test_every_host_tool_parses_into_probes(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    program = parse_program(source)
    assert program.probes, path
    assert all(probe.specs for probe in program.probes)
    assert any(probe.body for probe in program.probes)
    assert program.calls(), "every host tool calls something (printf, count, ...)"


def test_every_program_of_every_installed_example_pack_parses(settings: Settings) -> None:
    packs = Services.create(settings).registry.example_packs
    examples = [(pack.name, example) for pack in packs for example in pack.examples()]
    if not examples:
        pytest.skip("no example pack is installed in the mcptrace entry-point group")
    failures = {}
    for pack, example in examples:
        try:
            parse_program(example.program)
        except ProgramSyntaxError as error:
            failures[f"{pack}:{example.id}"] = str(error)
    assert not failures


def test_the_model_has_probes_predicates_statements_calls_maps_strings_and_comments() -> None:
    program = parse_program(
        "#include <linux/sched.h>\n"
        "// count reads\n"
        "tracepoint:syscalls:sys_enter_read,\n"
        "t:syscalls:sys_enter_pread64 /pid == 42 && comm != \"bash\"/\n"
        "{\n"
        "  @reads[comm] = count();   /* per command */\n"
        "  $n = (uint32)args->count / 2;\n"
        "  if ($n > 100) { printf(\"big %d\\n\", $n); } else { @small++; }\n"
        "}\n"
        "END { clear(@reads); }\n"
    )
    first, end = program.probes
    assert [spec.canonical for spec in first.specs] == [
        "tracepoint:syscalls:sys_enter_read", "tracepoint:syscalls:sys_enter_pread64"
    ]
    assert (first.specs[1].text, first.specs[1].line, first.specs[1].col) == ("t:syscalls:sys_enter_pread64", 4, 1)
    assert isinstance(first.predicate, ir.Binary) and first.predicate.op == "&&"
    assert [type(statement).__name__ for statement in first.body] == ["Assignment", "Assignment", "If"]
    cast = first.body[1].value.left  # type: ignore[attr-defined]
    assert isinstance(cast, ir.Cast) and cast.type == "uint32"
    assert [(call.name, call.line, call.col) for call in program.calls()] == [
        ("count", 6, 18), ("printf", 8, 19), ("clear", 10, 7)
    ]
    assert program.maps() == ["@reads", "@small"]
    assert [string.value for string in program.strings()] == ["bash", "big %d\n"]
    assert [comment.text for comment in program.comments] == ["// count reads", "/* per command */"]
    assert [directive.text for directive in program.directives] == ["#include <linux/sched.h>"]
    assert end.specs[0].type == "END"


def test_words_in_strings_and_comments_are_never_calls() -> None:
    program = parse_program(
        '// system("rm -rf /") would be bad\n'
        'BEGIN { printf("call system(\\"x\\") and signal(9)\\n"); /* override(1) */ exit(); }\n'
    )
    assert [call.name for call in program.calls()] == ["printf", "exit"]
    assert "system" in program.comments[0].text
    assert program.strings()[0].value == 'call system("x") and signal(9)\n'


def test_calls_under_a_condition_are_not_unconditional() -> None:
    program = parse_program(
        "tracepoint:sched:sched_switch { @[comm] = count(); if (pid == 1) { printf(\"init\\n\"); } "
        "$x = pid > 5 ? str(comm) : \"\"; print(@x); }"
    )
    probe = program.probes[0]
    assert [call.name for call in probe.calls()] == ["count", "printf", "str", "print"]
    assert [call.name for call in probe.unconditional_calls()] == ["count", "print"]


def test_attach_points_of_every_shape_are_one_token() -> None:
    program = parse_program(
        "uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc,uretprobe:libssl:SSL_read,usdt:/usr/bin/x:prov:probe,"
        "kprobe:lookup_fast.constprop.*,software:cpu-clock:1000000,profile:hz:99,interval:ms:250,"
        'uprobe:/bin/app:cpp:"ns::f(int)" { }'
    )
    specs = program.probes[0].specs
    assert [spec.type for spec in specs] == [
        "uprobe", "uretprobe", "usdt", "kprobe", "software", "profile", "interval", "uprobe"
    ]
    assert specs[0].target == "/usr/lib/x86_64-linux-gnu/libc.so.6" and specs[0].function == "malloc"
    assert specs[1].target == "libssl" and specs[3].is_wildcard
    assert specs[4].event_period() == 1_000_000
    assert specs[5].frequency_hz() == 99 and specs[6].frequency_hz() == 4
    assert specs[7].parts == ("/bin/app", "cpp", "ns::f(int)")  # canonical: quotes only group


def test_c_declarations_and_casts_to_pointers_parse() -> None:
    program = parse_program(
        "struct cfs_rq { struct load_weight load; unsigned int nr_running; };\n"
        "profile:hz:99 { $task = (struct task_struct *)curtask; $q = (struct cfs_rq *)$task->se.cfs_rq;\n"
        "  @len = lhist($q->nr_running, 0, 100, 1); @s = sizeof(struct task_struct); }\n"
    )
    assert program.declarations[0].text.startswith("struct cfs_rq")
    sizeof = program.calls("sizeof")[0]
    assert isinstance(sizeof.args[0], ir.TypeName) and sizeof.args[0].text == "struct task_struct"


def _infix(node: ir.Node) -> str:
    if isinstance(node, ir.Binary):
        return f"({_infix(node.left)} {node.op} {_infix(node.right)})"
    return node.text if isinstance(node, ir.Integer) else node.name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("expression", "tree"),
    [
        ("1 + 2 * 3 - 4", "((1 + (2 * 3)) - 4)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("$a || $b && $c == 1 + 2", "($a || ($b && ($c == (1 + 2))))"),
        ("1 * 2 + 3 << 1 < 5 != 0", "(((((1 * 2) + 3) << 1) < 5) != 0)"),
        ("1 | 2 ^ 3 & 4", "(1 | (2 ^ (3 & 4)))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
    ],
)
def test_binary_operators_bind_as_in_c(expression: str, tree: str) -> None:
    assignment = parse_program(f"BEGIN {{ @ = {expression}; }}").probes[0].body[0]
    assert _infix(assignment.value) == tree  # type: ignore[attr-defined]


def test_a_predicate_may_divide() -> None:
    program = parse_program("tracepoint:a:b / $x / 2 > 1 / { @ = 1; }")
    predicate = program.probes[0].predicate
    assert isinstance(predicate, ir.Binary) and predicate.op == ">"
    assert isinstance(predicate.left, ir.Binary) and predicate.left.op == "/"


def test_parenthesised_names_are_not_casts() -> None:
    program = parse_program("BEGIN { $x = (pid) + 1; $y = ($a * $b); }")
    first, second = program.probes[0].body
    assert isinstance(first.value, ir.Binary)  # type: ignore[attr-defined]
    assert isinstance(second.value, ir.Binary)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "line", "col", "words"),
    [
        ('BEGIN { printf("x\\n" }', 1, 22, "unexpected '}'"),
        ("BEGIN {\n  @x = ;\n}", 2, 8, "unexpected ';'"),
        ('BEGIN { printf("never closed); }', 1, 16, "unterminated string"),
        ("BEGIN { /* never closed }", 1, 9, "unterminated comment"),
        ("BEGIN { exit(); ", 1, 17, "unexpected end of the program"),
        ("kprobe:f { if }", 1, 15, "unexpected '}'"),
    ],
)
def test_syntax_errors_carry_line_column_and_what_was_expected(source: str, line: int, col: int, words: str) -> None:
    with pytest.raises(ProgramSyntaxError) as caught:
        parse_program(source)
    error = caught.value
    assert (error.line, error.col) == (line, col), error
    assert words in error.message


def test_string_escapes_are_resolved() -> None:
    assert unescape(r'"a\tb\n\x41\101\\\""') == 'a\tb\nAA\\"'


_PIECES = st.sampled_from(
    list('{}()[]/;:,"@$*&|^!~<>=+-.?#\\\n \t') + [
        "BEGIN", "tracepoint:a:b", "kprobe:*", "if", "else", "while", "unroll", "return", "printf", "x", "1",
        "0x1f", "/*", "*/", "//", "(uint8)", "(struct a *)", "struct a", "$v", "@m", '"s"',
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_token_soup_parses_or_fails_cleanly(source: str) -> None:
    _parses_or_fails_cleanly(source)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_fails_cleanly(source: str) -> None:
    _parses_or_fails_cleanly(source)


def test_deep_nesting_fails_cleanly_or_parses() -> None:
    _parses_or_fails_cleanly("BEGIN { @ = " + "(" * 5000 + "1" + ")" * 5000 + "; }")


def _parses_or_fails_cleanly(source: str) -> None:
    try:
        program = parse_program(source)
    except ProgramSyntaxError as error:
        lines = max(1, len(source.splitlines()))
        assert 1 <= error.line <= lines + 1 and error.col >= 1 and error.message
        return
    assert isinstance(program, ir.Program)
    list(ir.walk(program))  # the model is walkable whatever its depth


NEWER_SYNTAX = """#!/usr/bin/env bpftrace
config = { max_map_keys = 2048; missing_probes = "ignore"; }

tracepoint:syscalls:sys_enter_openat
{
  let $name;
  let $flags: int32 = args.flags;
  let $path: string[32];
  let $task: struct task_struct * = curtask;
  $name = str(args.filename);
  @opens[$name, $flags] = count();
}
"""


def test_config_blocks_and_let_declarations_of_newer_bpftrace_parse_into_the_model() -> None:
    """bpftrace 0.21 added config blocks and 0.22 ``let``: 10 of 0.23's tools use them."""
    program = parse_program(NEWER_SYNTAX)
    assert [(setting.name, setting.value) for setting in program.config] == [
        ("max_map_keys", 2048), ("missing_probes", "ignore")]
    assert program.config[0].line == 2
    (probe,) = program.probes
    statements = probe.body
    assert isinstance(statements[0], ir.Declare) and statements[0].target.name == "$name"
    flags = statements[1]
    assert isinstance(flags, ir.Assignment) and flags.declared and flags.declared_type == "int32"
    assert isinstance(flags.value, ir.Field) and flags.value.name == "flags"
    assert isinstance(statements[2], ir.Declare) and statements[2].declared_type == "string[32]"
    task = statements[3]
    assert isinstance(task, ir.Assignment) and task.declared_type == "struct task_struct *"
    plain = statements[4]
    assert isinstance(plain, ir.Assignment) and not plain.declared
    assert [call.name for call in program.calls()] == ["str", "count"]
    assert program.maps() == ["@opens"]


@pytest.mark.parametrize("source", [
    "config = { max_map_keys = } BEGIN { }",
    "config == 1",
    "BEGIN { let; }",
    "BEGIN { let $x: = 1; }",
    "BEGIN { let @m = 1; }",
])
def test_broken_newer_syntax_is_a_located_syntax_error(source: str) -> None:
    with pytest.raises(ProgramSyntaxError) as caught:
        parse_program(source)
    assert caught.value.line == 1 and caught.value.col > 1
