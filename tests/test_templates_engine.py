"""The template engine on its own: parameter kinds, safe rendering, composition, the model, packs, the catalog.

No bpftrace here; tests/test_templates_library.py checks what the core templates render against the real one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcptrace_core.interfaces import TemplatePack
from mcptrace_core.templates.catalog import TemplateCatalog, UnknownTemplateError, template_capability
from mcptrace_core.templates.engine import TemplateError, TemplateParameterError, render
from mcptrace_core.templates.host_values import cgroup2_mounts
from mcptrace_core.templates.literals import string_literal
from mcptrace_core.templates.loader import TomlTemplatePack
from mcptrace_core.templates.model import ParameterSpec, Template


def make(body: str, **fields: Any) -> Template:
    defaults = {"name": "probe_test", "title": "A test template", "category": "test",
                "description": "A template built by a test to exercise the engine."}
    return Template(body=body, **{**defaults, **fields})


def value_of(kind: str, value: Any, **spec: Any) -> Any:
    """What a parameter of ``kind`` validates ``value`` to (its canonical form)."""
    template = make("BEGIN { }\n{{ finish() }}", parameters={"x": ParameterSpec(kind=kind, description="the value under test", example=value, **spec)})
    return render(template, {"x": value}).parameters["x"]


def refused(kind: str, value: Any, **spec: Any) -> str:
    with pytest.raises(TemplateParameterError) as caught:
        value_of(kind, value, **spec)
    return str(caught.value)


# -- string literals -----------------------------------------------------------------------------

_ESCAPE = re.compile(r'\\([0-7]{3}|["\\])')


def decode_literal(literal: str) -> bytes:
    """Read a bpftrace string literal back the way bpftrace's lexer does (the escapes we emit)."""
    assert re.fullmatch(r'"(?:[ !#-\[\]-~]|\\[0-7]{3}|\\["\\])*"', literal), f"not a closed, escaped literal: {literal}"
    body = literal[1:-1]
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        out += body[position:match.start()].encode("ascii")
        escape = match.group(1)
        out += bytes([int(escape, 8)]) if escape[0].isdigit() else escape.encode("ascii")
        position = match.end()
    out += body[position:].encode("ascii")
    return bytes(out)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_every_string_becomes_one_closed_literal_that_reads_back_exactly(text: str) -> None:
    assert decode_literal(string_literal(text)) == text.encode("utf-8")


def test_literal_escapes_quotes_backslashes_controls_and_unicode() -> None:
    assert string_literal('a"b\\c\n') == '"a\\"b\\\\c\\012"'
    assert string_literal("é") == '"\\303\\251"'


# -- kinds: accepted values and their canonical forms --------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "spec", "given_value", "canonical"),
    [
        ("pid", {}, 1, 1),
        ("pid", {}, 4_194_304, 4_194_304),
        ("pid", {}, "1234", 1234),
        ("int", {"min": -5, "max": 5}, -5, -5),
        ("threshold", {}, "10ms", "10ms"),
        ("threshold", {}, "1.5ms", "1500us"),
        ("threshold", {}, 250, "250ms"),
        ("threshold", {"unit": "us"}, "250", "250us"),
        ("threshold", {}, "2 s", "2s"),
        ("threshold", {}, "90s", "90s"),
        ("threshold", {}, "120s", "2m"),
        ("duration", {}, "5m", 300),
        ("duration", {}, 86_400, 86_400),
        ("interval", {}, "1h", 3600),
        ("size", {}, "64k", 65_536),
        ("size", {}, "1MiB", 1 << 20),
        ("signal", {}, "TERM", 15),
        ("signal", {}, "SIGKILL", 9),
        ("signal", {}, 64, 64),
        ("comm", {}, "x" * 15, "x" * 15),
        ("comm", {}, "systemd-journal", "systemd-journal"),
        ("string", {"max_length": 4}, "éé", "éé"),
        ("symbol", {}, "_ZN3foo3barEv", "_ZN3foo3barEv"),
        ("symbol", {"wildcards": True}, "pthread_mutex_*", "pthread_mutex_*"),
        ("identifier", {}, "sys_read2", "sys_read2"),
        ("enum", {"choices": ["a", "b"]}, "b", "b"),
        ("bool", {}, "true", True),
        ("probe", {}, "t:sched:sched_switch", "tracepoint:sched:sched_switch"),
        ("probe", {}, "uprobe:/usr/bin/bash:read*", "uprobe:/usr/bin/bash:read*"),
        ("probe", {}, "software:page-faults:100", "software:page-faults:100"),
        ("probe", {}, "profile:hz:99", "profile:hz:99"),
        ("net_device", {}, "eth0", "eth0"),
        ("block_device", {}, "8:0", "8:0"),
        ("cgroup", {}, 4242, 4242),
        ("cgroup", {}, "77", 77),
    ],
)
def test_kinds_accept_and_canonicalise(kind: str, spec: dict[str, Any], given_value: Any, canonical: Any) -> None:
    assert value_of(kind, given_value, **spec) == canonical
    assert value_of(kind, canonical, **spec) == canonical  # the canonical form validates to itself


@pytest.mark.parametrize(
    ("kind", "spec", "given_value", "says"),
    [
        ("pid", {}, 0, "greater than or equal to 1"),
        ("pid", {}, 4_194_305, "less than or equal to 4194304"),
        ("pid", {}, True, "not true/false"),
        ("int", {"min": 1, "max": 6}, 7, "less than or equal to 6"),
        ("threshold", {}, "10 parsecs", "not a time"),
        ("threshold", {}, "-1ms", "not a time"),
        ("threshold", {}, "0.5ns", "finer than a nanosecond"),
        ("threshold", {"min": "1us"}, "10ns", "outside 1us..24h"),
        ("threshold", {}, "1ms; exit()", "not a time"),
        ("duration", {}, "1.5s", "whole number of seconds"),
        ("duration", {}, 0, "outside 1..86400"),
        ("interval", {}, 3601, "outside 1..3600"),
        ("size", {}, "12 parsecs", "not a size"),
        ("signal", {}, 65, "1..64"),
        ("signal", {}, "SIGFOO", "not a signal name"),
        ("comm", {}, "é" * 8, "15"),
        ("comm", {}, "", "at least 1"),
        ("string", {}, "a\x00b", "NUL"),
        ("symbol", {}, "malloc*", "should match pattern"),
        ("symbol", {"wildcards": True}, "a b", "should match pattern"),
        ("identifier", {}, "read; system", "should match pattern"),
        ("identifier", {}, "9lives", "should match pattern"),
        ("enum", {"choices": ["a", "b"]}, "c", "'a' or 'b'"),
        ("net_device", {}, "eth0; x", "interface name"),
        ("block_device", {}, "no_such_disk", "no block device"),
        ("block_device", {}, "4096:0", "major must be < 4096"),
        ("cgroup", {}, 0, "positive"),
        ("cgroup", {}, "/tmp", "not in a cgroup v2 hierarchy"),
        ("cgroup", {}, "relative/path", "absolute path"),
    ],
)
def test_kinds_refuse_bad_values_naming_the_parameter(kind: str, spec: dict[str, Any], given_value: Any, says: str) -> None:
    message = refused(kind, given_value, **spec)
    assert "parameters.x" in message and says in message, message
    assert "Allowed:" in message  # the error says what is allowed, from the kind


@pytest.mark.parametrize(
    "pattern",
    [
        "tracepoint:syscalls:sys_enter_read { system(\"id\") }",
        "tracepoint:syscalls:sys_enter_read{",
        "tracepoint:sched:sched_switch,kprobe:do_exit",
        "tracepoint:sched:sched_switch /pid == 1/",
        "tracepoint:sched",
        "nosuchtype:a:b",
        "tracepoint:sched:sched_switch\nBEGIN",
        "uprobe:/bin/bash:read\"",
    ],
)
def test_probe_patterns_outside_the_grammar_are_refused(pattern: str) -> None:
    refused("probe", pattern)


def test_probe_kinds_can_be_restricted_to_types() -> None:
    assert "not allowed here" in refused("probe", "kprobe:vfs_read", probe_types=["tracepoint"])


def test_binaries_are_resolved_and_checked(tmp_path: Path) -> None:
    libc = value_of("binary", "libc")
    assert libc.startswith("/") and Path(libc).read_bytes()[:4] == b"\x7fELF"
    assert value_of("binary", "sh") == os.path.normpath(__import__("shutil").which("sh"))
    assert "absolute path" in refused("binary", "bin/sh")
    assert "does not exist" in refused("binary", "/no/such/binary")
    assert "not an ELF binary" in refused("binary", "/etc/passwd")
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    assert "is a script" in refused("binary", str(script))
    spaced = tmp_path / "with space"
    spaced.write_bytes(b"\x7fELF rest")
    assert "make a symlink" in refused("binary", str(spaced))


def test_block_devices_and_cgroups_of_this_host() -> None:
    disks = sorted(os.listdir("/sys/class/block"))
    if disks:
        expected = Path("/sys/class/block", disks[0], "dev").read_text().strip()
        assert value_of("block_device", disks[0]) == expected
    for mount in cgroup2_mounts():
        assert value_of("cgroup", mount + "/") == os.path.normpath(mount)


# -- safe rendering: injection attempts ----------------------------------------------------------------

FILTERED = make(
    "tracepoint:sched:sched_process_exec\n{{ when() }}\n{\n  {{ aggregate('@execs', 'comm') }}\n}\n\n{{ finish() }}",
    filters=["pid", "comm", "cgroup"],
)


def test_a_comm_that_tries_to_close_the_string_stays_inside_it() -> None:
    program = render(FILTERED, {"comm": '"); system("id'}).program
    assert 'comm == "\\"); system(\\"id"' in program
    assert 'system("id' not in program


def test_odd_comm_values_render_as_exact_escaped_literals() -> None:
    for comm in ("a\\b", 'q"uote', "tab\there", "é✓", "}{/"):
        program = render(FILTERED, {"comm": comm}).program
        literal = re.search(r'comm == ("(?:[^"\\]|\\.)*")', program).group(1)  # type: ignore[union-attr]
        assert decode_literal(literal) == comm.encode("utf-8")


def test_filters_compose_into_one_predicate() -> None:
    mount = next(iter(cgroup2_mounts()), None)
    parameters: dict[str, Any] = {"pid": 42, "comm": "nginx"}
    if mount:
        parameters["cgroup"] = mount
    program = render(FILTERED, parameters).program
    predicate = program.splitlines()[2]
    assert predicate.startswith("/pid == 42 && comm == \"nginx\"")
    if mount:
        assert f'cgroup == cgroupid("{mount}")' in predicate
    assert render(FILTERED, {}).program.splitlines()[1:3] == ["tracepoint:sched:sched_process_exec", "{"]  # none


def test_a_body_cannot_reach_python_internals() -> None:
    for body in ("{{ ''.__class__.__mro__ }}", "{{ finish.__globals__ }}", "{{ range.__self__ }}"):
        with pytest.raises(TemplateError):
            render(make(body + "\n{{ finish() }}"), {})


def test_unknown_names_in_a_body_are_errors_not_empty_text() -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render(make("BEGIN { printf(\"{{ nothing }}\"); }\n{{ finish() }}"), {})


def test_author_mistakes_are_template_errors() -> None:
    with pytest.raises(TemplateError, match="never calls finish"):
        render(make("BEGIN { exit(); }"), {})
    with pytest.raises(TemplateError, match="not a map name"):
        render(make("BEGIN { {{ aggregate('x; system', '') }} }\n{{ finish() }}"), {})
    with pytest.raises(TemplateError, match="line 2"):
        render(make("BEGIN { }\n{% if %}\n{{ finish() }}"), {})


# -- composition: outputs, time series, top, duration ------------------------------------------------

LATENCY = make(
    """tracepoint:syscalls:sys_enter_read
{{ when() }}
{
  @start[tid] = nsecs;
}

tracepoint:syscalls:sys_exit_read
/@start[tid]/
{
{% if output == "printf" %}
  printf("%d\\n", nsecs - @start[tid]);
{% else %}
  {{ aggregate("@lat", "comm", scaled("nsecs - @start[tid]", "us")) }}
{% endif %}
  delete(@start[tid]);
}

{{ finish("@start") }}""",
    filters=["pid"],
    outputs=["hist", "count", "sum", "stats", "printf"],
)


@pytest.mark.parametrize(("output", "statement"), [
    ("hist", "@lat[comm] = hist(nsecs - @start[tid] / 1000);"),
    ("count", "@lat[comm] = count();"),
    ("sum", "@lat[comm] = sum(nsecs - @start[tid] / 1000);"),
    ("stats", "@lat[comm] = stats(nsecs - @start[tid] / 1000);"),
])
def test_one_body_serves_each_output(output: str, statement: str) -> None:
    assert statement in render(LATENCY, {"output": output}).program


def test_time_series_top_and_duration() -> None:
    rendered = render(LATENCY, {"interval_s": "5s", "top": 3, "duration_s": "1m"})
    program = rendered.program
    assert 'interval:s:5\n{\n  time("%H:%M:%S\\n");\n  print(@lat, 3);\n  clear(@lat);\n}' in program
    assert "interval:s:60\n{\n  exit();\n}" in program
    assert "END\n{\n  clear(@start);\n  print(@lat, 3);\n  clear(@lat);\n}" in program
    assert rendered.probes == [
        "tracepoint:syscalls:sys_enter_read", "tracepoint:syscalls:sys_exit_read", "interval:s:5", "interval:s:60", "END",
    ]


def test_map_options_are_refused_for_per_event_output() -> None:
    with pytest.raises(TemplateParameterError, match="interval_s and top apply to map outputs"):
        render(LATENCY, {"output": "printf", "interval_s": 5, "top": 2})


def test_unknown_parameters_are_named_with_the_accepted_ones() -> None:
    with pytest.raises(TemplateParameterError, match=r"parameters.pidd: unknown parameter \(accepted: pid, output"):
        render(LATENCY, {"pidd": 1})


def test_rendered_parameters_validate_to_the_same_program() -> None:
    first = render(LATENCY, {"pid": "7", "interval_s": "1m", "output": "sum"})
    assert render(LATENCY, first.parameters).program == first.program


def test_probes_are_read_by_the_program_parser() -> None:
    body = "tracepoint:a:b,\nt:c:d\n/pid == 1/\n{ printf(\"x:y { }\"); }\nuprobe:/usr/bin/x:f /arg0/ { }\nBEGIN { }\n{{ finish() }}"
    assert render(make(body), {}).probes == ["tracepoint:a:b", "t:c:d", "uprobe:/usr/bin/x:f", "BEGIN"]


def test_a_body_that_renders_no_valid_program_is_the_templates_bug() -> None:
    with pytest.raises(TemplateError, match="template probe_test rendered a program that does not parse: line 2"):
        render(make("BEGIN {\n{{ finish() }}"), {})


# -- the model: what a template may declare ---------------------------------------------------------

@pytest.mark.parametrize(("fields", "says"), [
    ({"parameters": {"pid": ParameterSpec(kind="pid", description="clashes with the filter", default=1)}, "filters": ["pid"]}, "taken"),
    ({"parameters": {"when": ParameterSpec(kind="int", description="clashes with a helper", default=1)}}, "taken"),
    ({"parameters": {"_x": ParameterSpec(kind="int", description="private looking name", default=1)}}, "identifier"),
    ({"outputs": ["count", "count"]}, "repeat"),
    ({"filter_help": {"pid": "explained but not declared"}}, "does not declare"),
    ({"title": "two\nlines"}, "should match pattern"),
])
def test_inconsistent_templates_are_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        make("BEGIN { }\n{{ finish() }}", **fields)


@pytest.mark.parametrize(("spec", "says"), [
    ({"kind": "colour", "description": "an unknown kind"}, "unknown kind"),
    ({"kind": "enum", "description": "choices that are not names", "choices": ["a b"], "default": "a b"}, "identifiers"),
    ({"kind": "enum", "description": "an enum without choices", "optional": True}, "needs choices"),
    ({"kind": "int", "description": "required but no example"}, "needs an example"),
    ({"kind": "int", "description": "both optional and defaulted", "optional": True, "default": 3}, "not both"),
    ({"kind": "probe", "description": "unknown probe types", "probe_types": ["kprobez"], "optional": True}, "unknown probe types"),
])
def test_bad_parameter_specs_are_refused(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ParameterSpec(**spec)


def test_the_parameter_schema_is_flat_and_explains_each_field() -> None:
    schema = LATENCY.parameters_model().model_json_schema()
    assert "$ref" not in str(schema) and "$defs" not in schema
    assert schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        assert "Allowed:" in field["description"], name


# -- packs and the catalog ----------------------------------------------------------------------------

GOOD = '''name = "good_one"
title = "A good template"
description = "A template that loads, for the pack loader test."
category = "test"
body = """
BEGIN { exit(); }
{{ finish() }}
"""
'''


def pack_in(directory: Path, pack_name: str) -> TemplatePack:
    class Pack(TomlTemplatePack):
        name = pack_name
        description = "a test pack"

    return Pack(directory)


def test_a_pack_loads_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "good_one.toml").write_text(GOOD)
    (tmp_path / "broken.toml").write_text("name = 'broken\n")
    (tmp_path / "misnamed.toml").write_text(GOOD)
    (tmp_path / "missing_fields.toml").write_text('name = "missing_fields"\n')
    (tmp_path / "notes.txt").write_text("not a template")
    pack = pack_in(tmp_path, "test-pack")
    assert [template.name for template in pack.templates()] == ["good_one"]
    assert pack.templates()[0] is pack.templates()[0]  # loaded once, kept
    problems = pack.problems()
    assert any("test-pack/broken.toml: not valid TOML" in problem for problem in problems)
    assert any("misnamed.toml: the file must be named after the template" in problem for problem in problems)
    assert any("missing_fields.toml" in problem and "title" in problem for problem in problems)


class _Registry:
    """Just enough of a registry for the catalog: its template-pack contributions."""

    def __init__(self, *packs: TemplatePack) -> None:
        self.packs = packs

    def contributions(self, kind: str) -> list[Any]:
        assert kind == "template_pack"
        return [type("Contribution", (), {"item": pack, "plugin": f"plugin-of-{pack.name}"}) for pack in self.packs]


def test_the_catalog_keeps_the_first_of_two_same_named_templates(tmp_path: Path) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "good_one.toml").write_text(GOOD)
    catalog = TemplateCatalog.from_registry(_Registry(pack_in(tmp_path / "first", "first"), pack_in(tmp_path / "second", "second")))  # type: ignore[arg-type]
    assert catalog.get("good_one").pack == "first"
    assert catalog.problems == [
        "template 'good_one' from pack 'second' conflicts with the one from pack 'first'; kept the one from 'first'"
    ]
    with pytest.raises(UnknownTemplateError, match="did you mean good_one"):
        catalog.get("good_on")


def test_a_pack_that_raises_does_not_hide_the_others(tmp_path: Path) -> None:
    class Broken(TemplatePack):
        name = "broken"
        description = "raises"

        def templates(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk on fire")

    (tmp_path / "good_one.toml").write_text(GOOD)
    catalog = TemplateCatalog.from_registry(_Registry(Broken(), pack_in(tmp_path, "fine")))  # type: ignore[arg-type]
    assert list(catalog.templates) == ["good_one"]
    assert "disk on fire" in catalog.problems[0]


def test_search_is_lexical_and_ranks_names_and_titles_first() -> None:
    catalog = TemplateCatalog({t.name: t for t in (
        make("{{ finish() }}", name="disk_latency", tags=["block"]),
        Template(name="exec_trace", title="Programs started", category="processes", body="{{ finish() }}",
                 description="Reports new programs; the latency of nothing in particular."),
    )})
    assert [t.name for t in catalog.search("latency")] == ["disk_latency", "exec_trace"]
    assert [t.name for t in catalog.search("programs")] == ["exec_trace"]
    assert catalog.search("zebra crossing") == []
    assert len(catalog.search(None)) == len(catalog.search("  the ")) == 2


def test_a_template_is_a_search_capability_with_the_probes_of_its_example() -> None:
    capability = template_capability(LATENCY)
    assert (capability.kind, capability.id, capability.title) == ("template", "probe_test", LATENCY.title)
    assert LATENCY.description in capability.text and "interval_s" in capability.text
    assert capability.probes == ("tracepoint:syscalls:sys_enter_read", "tracepoint:syscalls:sys_exit_read", "END")
    assert capability.identifiers == ("probe_test", "template_probe_test") and capability.item is LATENCY
    assert "generate_from_template" in capability.usage
