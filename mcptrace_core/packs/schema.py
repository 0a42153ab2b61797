"""The published JSON schemas of the pack format, generated from the models so they cannot drift.

``python -m mcptrace_core.packs.schema docs/schemas`` rewrites them; a test fails when the files in
the repository differ from what the models generate. Editors with TOML schema support (Taplo, Even
Better TOML) validate a pack file against them with a ``#:schema ...`` first line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcptrace_core.models import ExampleDefinition, Model
from mcptrace_core.packs.loader import PackMetadata

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS: dict[str, tuple[type[Model], str]] = {
    "example.schema.json": (
        ExampleDefinition,
        "One mcptrace example: a TOML file under a pack's examples/ directory.",
    ),
    "pack.schema.json": (PackMetadata, "The pack.toml at the root of an mcptrace example pack."),
}


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every published schema."""
    documents = {}
    for file_name, (model, description) in SCHEMAS.items():
        schema: dict[str, Any] = {"$schema": DRAFT, **model.model_json_schema()}
        schema["description"] = description
        documents[file_name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return documents


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in schema_documents().items():
        (directory / file_name).write_text(text, encoding="utf-8")
        written.append(directory / file_name)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(path)
