"""Write a pack directory (pack.toml and one TOML file per example) that the loader reads back.

Used by ``mcptrace examples import`` and ``export --format toml``. TOML is written with tomli_w so
quoting is always right; the new pack replaces an old one only once it is completely written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomli_w

from mcptrace_core.models import ExampleDefinition
from mcptrace_core.packs.loader import EXAMPLES_DIR, PACK_FILE, PackMetadata

FIELD_ORDER = tuple(ExampleDefinition.model_fields)


def example_document(example: ExampleDefinition) -> dict[str, Any]:
    """The example as a TOML document: the definition's fields in a stable order, unset ones left out."""
    values = example.model_dump(include=set(FIELD_ORDER), exclude_none=True)
    return {name: values[name] for name in FIELD_ORDER if name in values}


def render_example(example: ExampleDefinition) -> str:
    return tomli_w.dumps(example_document(example), multiline_strings=True)


class PackExistsError(Exception):
    """The target directory already holds something and replacing it was not asked for."""


def write_pack(
    directory: Path, metadata: PackMetadata, examples: Iterable[ExampleDefinition], replace: bool = False
) -> int:
    """Write the pack into ``directory``; return the number of examples written.

    With ``replace`` an existing directory is swapped for the new one after it is fully written;
    without it an existing, non-empty directory is a PackExistsError.
    """
    if directory.exists() and any(directory.iterdir()) and not replace:
        raise PackExistsError(f"{directory} already exists; pass replace (--replace) to overwrite it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        (staging / PACK_FILE).write_text(
            tomli_w.dumps(metadata.model_dump(exclude_none=True)), encoding="utf-8"
        )
        written: set[str] = set()
        for example in examples:
            if example.id in written:
                raise ValueError(f"two examples have the id {example.id!r}; ids must be unique within a pack")
            written.add(example.id)
            folder = staging / EXAMPLES_DIR / example.category
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{example.id}.toml").write_text(render_example(example), encoding="utf-8")
        _swap(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(written)


def _swap(staging: Path, directory: Path) -> None:
    """Move the staged pack into place; the old one, if any, is removed only after the move."""
    if not directory.exists():
        staging.rename(directory)
        return
    retired = directory.with_name(f".{directory.name}-old")
    shutil.rmtree(retired, ignore_errors=True)
    directory.rename(retired)
    staging.rename(directory)
    shutil.rmtree(retired, ignore_errors=True)
