"""tools/list stays small for the assistant's context and the client's validation, and stays true.

The compact output schemas (server.output_schemas = "compact", the default) must accept every result the
full pydantic schemas accept, and still reject results of the wrong shape; checked with jsonschema, as
the official client checks every structured result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.schemas import compact_output_schema
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace
from tests.history_support import session

pytestmark = pytest.mark.anyio

MAX_LISTING_BYTES = 40 * 1024


def _listing_bytes(listing: Any) -> int:
    return len(listing.model_dump_json(by_alias=True, exclude_none=True).encode())


async def test_the_compact_listing_is_small_and_keeps_every_result_field(client, services) -> None:  # type: ignore[no-untyped-def]
    listing = await client.list_tools()
    assert _listing_bytes(listing) <= MAX_LISTING_BYTES
    models = {spec.name: spec.output_model for spec in services.registry.tools}
    for tool in listing.tools:
        schema = tool.output_schema
        full = models[tool.name].model_json_schema()
        assert schema["type"] == "object" and set(schema["properties"]) == set(full["properties"]), tool.name
        assert set(schema.get("required", [])) == set(full.get("required", [])), tool.name
        assert not _prose(schema), f"{tool.name}: {_prose(schema)}"


def _prose(schema: Any) -> list[str]:
    """Keywords that only explain (title, description), anywhere outside the field names."""
    if isinstance(schema, list):
        return [found for item in schema for found in _prose(item)]
    if not isinstance(schema, dict):
        return []
    found = [key for key in schema if key in ("title", "description", "examples")]
    for key, value in schema.items():
        children = value.values() if key == "properties" else [value]
        found += [item for child in children for item in _prose(child)]
    return found


async def test_full_schemas_on_request(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {"server": {"output_schemas": "full"}})
    services = Services.create(settings)
    async for client in session(services):
        listing = await client.list_tools()
        models = {spec.name: spec.output_model for spec in services.registry.tools}
        assert all(tool.output_schema == models[tool.name].model_json_schema() for tool in listing.tools)
        assert _listing_bytes(listing) > 3 * MAX_LISTING_BYTES


def test_folding_and_cutting_keep_the_accepted_values() -> None:
    full = {
        "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"],
                            "additionalProperties": False}},
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 0, "description": "how many"},
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Name"},
            "kind": {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}]},
            "inner": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
            "inners": {"type": "array", "items": {"$ref": "#/$defs/Inner"}},
        },
        "required": ["count", "name", "kind", "inner", "inners"],
    }
    compact = compact_output_schema(full)
    assert compact["properties"]["name"] == {"type": ["string", "null"]}
    assert compact["properties"]["kind"] == full["properties"]["kind"]  # null cannot join the enum by folding
    assert compact["properties"]["inner"] == {"type": ["object", "null"]}
    assert compact["properties"]["inners"] == {"type": "array", "items": {"type": "object"}}
    good = [
        {"count": 0, "name": None, "kind": None, "inner": None, "inners": []},
        {"count": 3, "name": "n", "kind": "a", "inner": {"x": 1}, "inners": [{"x": 2}]},
    ]
    bad = [
        {"count": -1, "name": None, "kind": None, "inner": None, "inners": []},
        {"count": 1, "name": 5, "kind": None, "inner": None, "inners": []},
        {"count": 1, "name": None, "kind": "c", "inner": None, "inners": []},
        {"count": 1, "name": None, "kind": None, "inner": 7, "inners": [3]},
        {"name": None, "kind": None, "inner": None, "inners": []},
    ]
    for value in good:
        jsonschema.validate(value, full)
        jsonschema.validate(value, compact)
    for value in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, compact)


@requires_bpftrace
async def test_real_results_pass_both_schemas(client, services) -> None:  # type: ignore[no-untyped-def]
    schemas = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}
    models = {spec.name: spec.output_model for spec in services.registry.tools}
    program = 'BEGIN { @n[comm] = count(); @h = hist(5); @s = stats(3); printf("one\\n"); exit(); }'
    calls = [
        ("exec_program", {"program": program, "wait": True}),
        ("validate_program", {"program": "tracepoint:syscalls:sys_enter_nosuch { exit(); }"}),
        ("bpf_info", {}),
        ("list_probes", {"filter": "tracepoint:sched:sched_switch", "with_args": True}),
    ]
    for name, arguments in calls:
        result = await client.call_tool(name, arguments)
        assert not result.is_error, result.content[0].text
        jsonschema.validate(result.structured_content, schemas[name])
        jsonschema.validate(result.structured_content, models[name].model_json_schema())
    execution_id = (await client.call_tool(*calls[0])).structured_content["execution_id"]
    page = await client.call_tool("get_result", {"execution_id": execution_id})
    jsonschema.validate(page.structured_content, schemas["get_result"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**page.structured_content, "status": "exploded"}, schemas["get_result"])
