"""Read an example pack: a directory with a pack.toml and one TOML file per example.

Layout (any depth of sub-directories; they only organise the files)::

    pack.toml                    name, description, version, license, homepage
    examples/<category>/<id>.toml

Every problem names the file and the field (``sched/runq.toml: field 'probes': ...``). A broken
example is left out and reported, so one bad file never hides a whole pack; ``check_pack`` and
``mcptrace examples check`` report them all for pack authors and tests.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.logging import get_logger
from mcptrace_core.models import Example, ExampleDefinition, Model

log = get_logger(__name__)

PACK_FILE = "pack.toml"
EXAMPLES_DIR = "examples"


class PackMetadata(Model):
    """What pack.toml says about a pack; ``docs/schemas/pack.schema.json`` is generated from it."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$", description="Unique among installed packs, e.g. 'core'."
    )
    description: str = Field(min_length=10, description="What the pack covers, in one or two sentences.")
    version: str = Field("0", description="The pack's version, e.g. '1.2.0'.")
    license: str | None = Field(
        None, description="SPDX identifier of the examples' license, e.g. 'Apache-2.0'."
    )
    homepage: str | None = Field(None, description="Where the pack is developed.")
    source: str | None = Field(
        None,
        description="Where the examples come from unless an example says otherwise; default: the pack name.",
    )


class PackLoadError(Exception):
    """The pack cannot be read at all (no or invalid pack.toml); the message names the file."""


@dataclass
class LoadedExamples:
    """The examples of a pack that loaded, and one message per file that did not."""

    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def describe_validation_error(error: ValidationError, where: str, model: type[Model]) -> list[str]:
    """One message per pydantic error: ``where: field 'probes[1]': Input should be a valid string``."""
    messages = []
    for item in error.errors():
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
        ).lstrip(".")
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = f"unknown field (allowed: {', '.join(model.model_fields)})"
        elif item["type"] == "literal_error":
            message = f"{message}, got {item['input']!r}"
        messages.append(f"{where}: field '{location}': {message}" if location else f"{where}: {message}")
    return messages


def read_toml(file: Traversable, where: str) -> dict[str, Any]:
    """Parse one TOML file; a ValueError that names it when it is not valid TOML or not readable."""
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{where}: not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{where}: not UTF-8: {error}") from None
    except OSError as error:
        raise ValueError(f"{where}: cannot be read: {error.strerror or error}") from None


def consistency_problems(definition: ExampleDefinition, where: str, stem: str | None) -> list[str]:
    """What pydantic cannot see: the file name, whether the program parses, and whether ``probes`` and
    ``requires`` tell the truth: ``probes`` lists exactly what the program attaches (aliases such as
    ``t:`` may be written either way), and every probe type it attaches is in ``requires``."""
    # The program model loads when the first example is read, not when a pack plugin is imported:
    # a server starts without it (~35 ms) and reads its packs on the first search.
    from mcptrace_core.packs.describe import UnknownProbeType, requirement
    from mcptrace_core.program.memo import attach_points
    from mcptrace_core.program.parser import ProgramSyntaxError
    from mcptrace_core.program.probespec import ProbeSpec

    problems = []
    if stem is not None and definition.id != stem:
        problems.append(
            f"{where}: field 'id': {definition.id!r} must equal the file name without .toml ({stem!r})"
        )
    try:
        attached = attach_points(definition.program)
    except ProgramSyntaxError as error:
        return [*problems, f"{where}: field 'program': not valid bpftrace: {error}"]
    listed = [ProbeSpec.parse(spec) for spec in definition.probes]
    attached_forms = {spec.canonical for spec in attached}
    listed_forms = [spec.canonical for spec in listed]
    for spec in listed:
        if spec.canonical not in attached_forms:
            problems.append(f"{where}: field 'probes': {spec.text!r} is not attached by the program")
        elif listed_forms.count(spec.canonical) > 1:
            problems.append(f"{where}: field 'probes': {spec.text!r} is listed more than once")
    for spec in attached:
        if spec.canonical not in listed_forms:
            problems.append(
                f"{where}: field 'probes': the program attaches {spec.text!r} (line {spec.line}), "
                "which is not listed"
            )
        try:
            needed = requirement(spec)
        except UnknownProbeType as error:
            problems.append(f"{where}: field 'program': {error}")
            continue
        if needed is not None and needed not in definition.requires:
            problems.append(f"{where}: field 'requires': probe {spec.text!r} needs {needed!r} in requires")
    return list(dict.fromkeys(problems))


def parse_example(
    data: dict[str, Any], pack: str, where: str, stem: str | None = None, source: str | None = None
) -> Example:
    """Validate one example's data; a ValueError listing every problem, each naming ``where`` and the field.

    ``source`` is used when the example does not say where it came from (default: the pack name).
    """
    try:
        definition = ExampleDefinition.model_validate(data)
    except ValidationError as error:
        raise ValueError("\n".join(describe_validation_error(error, where, ExampleDefinition))) from None
    problems = consistency_problems(definition, where, stem)
    if problems:
        raise ValueError("\n".join(problems))
    values = definition.model_dump()
    values["source"] = definition.source or source or pack
    return Example(**values, pack=pack)


def _toml_files(directory: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    """Every *.toml below ``directory`` with its relative path, in a stable order."""
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.is_dir():
            yield from _toml_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".toml"):
            yield f"{prefix}{entry.name}", entry


def load_examples(root: Traversable, metadata: PackMetadata) -> LoadedExamples:
    """Load ``root/examples/**.toml``; duplicate ids are problems naming both files."""
    loaded = LoadedExamples()
    directory = root / EXAMPLES_DIR
    if not directory.is_dir():
        loaded.problems.append(f"{_where(root, EXAMPLES_DIR)}: no examples directory")
        return loaded
    first_file: dict[str, str] = {}
    for relative, file in _toml_files(directory):
        where = _where(root, f"{EXAMPLES_DIR}/{relative}")
        try:
            example = parse_example(
                read_toml(file, where),
                metadata.name,
                where,
                stem=file.name.removesuffix(".toml"),
                source=metadata.source,
            )
        except ValueError as error:
            loaded.problems.extend(str(error).splitlines())
            continue
        if example.id in first_file:
            loaded.problems.append(
                f"{where}: field 'id': {example.id!r} is already used by {first_file[example.id]}"
            )
            continue
        first_file[example.id] = where
        loaded.examples.append(example)
    return loaded


def read_metadata(root: Traversable) -> PackMetadata:
    """Read ``root/pack.toml``; PackLoadError naming the file and field when it is missing or invalid."""
    where = _where(root, PACK_FILE)
    file = root / PACK_FILE
    if not file.is_file():
        raise PackLoadError(f"{where}: missing; a pack needs a pack.toml with at least name and description")
    try:
        data = read_toml(file, where)
    except ValueError as error:
        raise PackLoadError(str(error)) from None
    try:
        return PackMetadata.model_validate(data)
    except ValidationError as error:
        raise PackLoadError("; ".join(describe_validation_error(error, where, PackMetadata))) from None


def _where(root: Traversable, relative: str) -> str:
    return str(root / relative) if isinstance(root, Path) else f"{root.name}/{relative}"


class TomlExamplePack(ExamplePack):
    """A pack read from a directory of TOML files (a package's data or a directory on disk).

    The metadata is read when the pack is made (plugins make packs at load time, so this stays one
    small file); the examples are read on the first call of ``examples()`` and kept.
    """

    def __init__(self, root: Traversable, metadata: PackMetadata | None = None) -> None:
        self.root = root
        self.metadata = metadata or read_metadata(root)
        self.name = self.metadata.name
        self.description = self.metadata.description
        self._loaded: LoadedExamples | None = None

    @classmethod
    def from_package(cls, package: str) -> TomlExamplePack:
        """The pack shipped as data of an installed package: its pack.toml sits next to __init__.py."""
        return cls(files(package))

    def load(self) -> LoadedExamples:
        if self._loaded is None:
            self._loaded = load_examples(self.root, self.metadata)
            for problem in self._loaded.problems:
                log.warning("example skipped", pack=self.name, problem=problem)
        return self._loaded

    def examples(self) -> Sequence[Example]:
        return self.load().examples

    @property
    def problems(self) -> list[str]:
        return self.load().problems


def check_pack(root: Traversable) -> tuple[PackMetadata | None, LoadedExamples]:
    """Read a whole pack the way its author wants it checked: its metadata (None if unreadable) and
    the examples that load, with every problem reported rather than logged."""
    try:
        metadata = read_metadata(root)
    except PackLoadError as error:
        return None, LoadedExamples(problems=[str(error)])
    return metadata, load_examples(root, metadata)
