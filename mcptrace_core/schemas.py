"""Output schemas as a client needs them: the shape of a result, without the prose and the depth.

Every tool's output schema goes to the client in tools/list, into the assistant's context, and the
official client validates every structured result against it (jsonschema) on every call: pydantic's
full schemas were 110 KB of the 128 KB tools/list, and validating a page of output against them cost the
client more than the server spent making it. The compact form (``server.output_schemas = "compact"``,
the default) keeps each result's top-level fields with their types, enums, bounds and which are required,
and says only "object" (or "array of objects") for what is nested deeper; titles, descriptions, defaults
and examples go (the tool's description and text result say what the fields mean); ``anyOf`` of a type
and null becomes one ``type`` list. Every result that passes the full schema passes the compact one.
Input schemas are never compacted: the assistant fills them in and needs their descriptions.
"""

from __future__ import annotations

from typing import Any

PROSE = frozenset({"title", "description", "examples", "default"})
NAMED_CHILDREN = frozenset({"properties", "patternProperties"})
"""Keywords whose keys are field names, not keywords."""


def compact_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The top level of ``schema`` ($refs resolved), nested objects cut to their type, without prose."""
    defs = schema.get("$defs", {})
    return _compact(schema, defs, levels=2)


def _compact(schema: Any, defs: dict[str, Any], levels: int) -> Any:
    """``levels``: objects still described field by field below this point (the root's fields, then none)."""
    if isinstance(schema, list):
        return [_compact(item, defs, levels) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _compact(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, levels)
    if _is_object(schema):
        levels -= 1
        if levels <= 0:
            return {"type": "object"}
    compact: dict[str, Any] = {}
    for key, value in schema.items():
        if key in PROSE or key == "$defs":
            continue
        if key in NAMED_CHILDREN:
            compact[key] = {name: _compact(sub, defs, levels) for name, sub in value.items()}
        else:
            compact[key] = _compact(value, defs, levels)
    return _fold_nullable(compact)


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _fold_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [{"type": T, ...}, {"type": "null"}]}`` -> ``{"type": [T, "null"], ...}`` where that is exact."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return schema
    (other,) = [option for option in options if option != {"type": "null"}]
    if not isinstance(other.get("type"), str) or set(other) & (set(schema) - {"anyOf"}):
        return schema  # a type list already, or keywords that would clash: keep the anyOf
    if "enum" in other or "const" in other:
        return schema  # null would have to join the enum too
    folded = {key: value for key, value in schema.items() if key != "anyOf"}
    folded.update(other)
    folded["type"] = [other["type"], "null"]
    return folded
