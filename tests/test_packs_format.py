"""The pack format: loading, errors that name the file and the field, the published schemas, writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcptrace_core.models import ExampleDefinition
from mcptrace_core.packs import PackLoadError, PackMetadata, TomlExamplePack, check_pack
from mcptrace_core.packs.schema import schema_documents
from mcptrace_core.packs.writer import PackExistsError, write_pack

REPO = Path(__file__).parents[1]

GOOD = '''id = "demo.opens"
title = "Files opened per process"
category = "files"
description = "Which processes open files, and how often? Counts openat() calls per process."
requires = ["tracepoint"]
output = "map"
probes = ["tracepoint:syscalls:sys_enter_openat"]
program = """
tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }
"""
'''


def make_pack(root: Path, files: dict[str, str], pack_toml: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pack.toml").write_text(pack_toml or 'name = "demo"\ndescription = "A pack used by the tests."\n')
    for relative, text in files.items():
        path = root / "examples" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_pack_loads_its_examples_from_nested_directories(tmp_path: Path) -> None:
    pack = TomlExamplePack(make_pack(tmp_path / "demo", {"files/demo.opens.toml": GOOD}))
    [example] = pack.examples()
    assert (pack.name, pack.description) == ("demo", "A pack used by the tests.")
    assert example.pack == "demo" and example.source == "demo"  # no source given: the pack's name
    assert example.program.startswith("tracepoint:syscalls:sys_enter_openat")
    assert pack.problems == []


def test_metadata_is_read_at_once_and_examples_only_when_asked(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "demo", {"demo.opens.toml": GOOD})
    pack = TomlExamplePack(root)
    (root / "examples" / "demo.opens.toml").write_text(GOOD.replace("Files opened", "Opened files"))
    assert pack.examples()[0].title == "Opened files per process"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace('title = "Files opened per process"\n', ""),
            "demo.opens.toml: field 'title': Field required",
        ),
        (
            GOOD.replace('output = "map"', 'output = "table"'),
            "field 'output': Input should be 'events', 'map'",
        ),
        (GOOD + 'colour = "red"\n', "field 'colour': unknown field (allowed: id, title, description"),
        (
            GOOD.replace('probes = ["tracepoint:syscalls:sys_enter_openat"]', "probes = [3]"),
            "field 'probes[0]': Input should be a valid string",
        ),
        (
            GOOD.replace('requires = ["tracepoint"]', 'requires = ["kprobe"]'),
            "field 'requires': probe 'tracepoint:syscalls:sys_enter_openat' needs 'tracepoint' in requires",
        ),
        (
            GOOD.replace(
                'probes = ["tracepoint:syscalls:sys_enter_openat"]',
                'probes = ["tracepoint:sched:sched_switch"]',
            ),
            "field 'probes': 'tracepoint:sched:sched_switch' is not attached by the program",
        ),
        (
            GOOD.replace(
                'probes = ["tracepoint:syscalls:sys_enter_openat"]',
                'probes = ["tracepoint:syscalls:sys_enter_openat", "t:syscalls:sys_enter_openat"]',
            ),
            "field 'probes': 't:syscalls:sys_enter_openat' is listed more than once",
        ),
        (
            GOOD.replace(
                "tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }",
                "tracepoint:syscalls:sys_enter_openat,\ntracepoint:syscalls:sys_enter_open { @opens[comm] = count(); }",
            ),
            "field 'probes': the program attaches 'tracepoint:syscalls:sys_enter_open' (line 2), which is not listed",
        ),
        (
            GOOD.replace("@opens[comm] = count(); }", "@opens[comm] = count(); "),
            "field 'program': not valid bpftrace: line 1, column 64: unexpected end of the program",
        ),
        (
            GOOD.replace('id = "demo.opens"', 'id = "demo.other"'),
            "field 'id': 'demo.other' must equal the file name without .toml ('demo.opens')",
        ),
        (
            GOOD.replace("tracepoint:syscalls:sys_enter_openat", "tracepont:syscalls:sys_enter_openat"),
            "field 'program': unknown probe type 'tracepont' in 'tracepont:syscalls:sys_enter_openat'",
        ),
        ('id = "demo.opens"\ntitle = "unterminated', "demo.opens.toml: not valid TOML:"),
    ],
)
def test_a_broken_example_is_reported_with_its_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    files = {"demo.opens.toml": text, "ok/demo.ok.toml": GOOD.replace('"demo.opens"', '"demo.ok"')}
    metadata, loaded = check_pack(make_pack(tmp_path / "demo", files))
    assert metadata is not None and [example.id for example in loaded.examples] == [
        "demo.ok"
    ]  # the rest loads
    assert any(expected in problem for problem in loaded.problems), loaded.problems
    assert all(str(tmp_path) in problem for problem in loaded.problems)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "demo", {"a/demo.opens.toml": GOOD, "b/demo.opens.toml": GOOD})
    _, loaded = check_pack(root)
    assert len(loaded.examples) == 1
    first, second = root / "examples" / "a" / "demo.opens.toml", root / "examples" / "b" / "demo.opens.toml"
    assert loaded.problems == [f"{second}: field 'id': 'demo.opens' is already used by {first}"]


@pytest.mark.parametrize(
    ("pack_toml", "expected"),
    [
        (None, "pack.toml: missing"),
        (
            'name = "Demo Pack"\ndescription = "A pack used by the tests."\n',
            "pack.toml: field 'name': String should match",
        ),
        ('name = "demo"\n', "pack.toml: field 'description': Field required"),
        (
            'name = "demo"\ndescription = "A pack used by the tests."\nlicence = "MIT"\n',
            "field 'licence': unknown field",
        ),
    ],
)
def test_a_bad_pack_toml_fails_the_whole_pack_with_a_clear_error(
    tmp_path: Path, pack_toml: str | None, expected: str
) -> None:
    root = tmp_path / "demo"
    make_pack(root, {"demo.opens.toml": GOOD}, pack_toml or "placeholder")
    if pack_toml is None:
        (root / "pack.toml").unlink()
    with pytest.raises(PackLoadError) as raised:
        TomlExamplePack(root)
    assert expected in str(raised.value)


def test_the_published_schemas_are_generated_from_the_models() -> None:
    for file_name, text in schema_documents().items():
        published = REPO / "docs" / "schemas" / file_name
        assert published.read_text() == text, (
            f"run `python -m mcptrace_core.packs.schema docs/schemas` ({file_name})"
        )
    example_schema = json.loads(schema_documents()["example.schema.json"])
    assert example_schema["additionalProperties"] is False
    assert set(example_schema["required"]) == {
        "id",
        "title",
        "description",
        "program",
        "probes",
        "category",
        "output",
    }


def test_written_packs_read_back_identically_and_are_not_overwritten_by_accident(tmp_path: Path) -> None:
    core = TomlExamplePack.from_package("mcptrace_pack_core")
    originals = list(core.examples())[:25]
    target = tmp_path / "copy"
    assert (
        write_pack(target, PackMetadata(name="copy", description="A copy of some core examples."), originals)
        == 25
    )
    copy = TomlExamplePack(target)
    assert copy.problems == []
    keep = set(ExampleDefinition.model_fields)
    assert [e.model_dump(include=keep) for e in copy.examples()] == [
        e.model_dump(include=keep) for e in originals
    ]
    with pytest.raises(PackExistsError):
        write_pack(target, copy.metadata, originals[:1])
    write_pack(target, copy.metadata, originals[:1], replace=True)
    assert [e.id for e in TomlExamplePack(target).examples()] == [originals[0].id]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy"]  # no staging left behind


def test_duplicate_ids_are_refused_when_writing(tmp_path: Path) -> None:
    example = TomlExamplePack.from_package("mcptrace_pack_core").examples()[0]
    with pytest.raises(ValueError, match="two examples have the id"):
        write_pack(
            tmp_path / "dup", PackMetadata(name="dup", description="Two of the same."), [example, example]
        )
    assert list(tmp_path.iterdir()) == []
