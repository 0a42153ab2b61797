"""Every limit a tool's schema advertises is the one the server enforces, and `timeout` works as `timeout_s`.

An assistant that trusts the schema must not be refused: a bound set by the configuration (a run's
longest timeout, the largest program) is advertised with the configured value, and every other bound is
where the input model puts it. Checked over a real MCP session, for every tool the server lists.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from mcp import Client
from pydantic import AliasChoices, TypeAdapter, ValidationError

from mcptrace_core.config import Settings, load_settings
from mcptrace_core.inputs import ConfigLimit
from mcptrace_core.server import build_server
from mcptrace_core.services import Services

pytestmark = pytest.mark.anyio

BOUNDS = {"maximum": "number", "exclusiveMaximum": "number", "maxLength": "string", "maxItems": "array"}
RUN_TOOLS = ("exec_program", "exec_with_retry", "exec_bcc_tool", "validate_program")


@pytest.fixture
def tight(tmp_path: Path) -> Settings:
    """A configuration with limits of its own, so advertised values cannot be defaults by accident."""
    return load_settings(tmp_path / "absent.toml", {"runs": {"max_timeout_s": 30, "default_timeout_s": 5,
                                                            "max_program_bytes": 1000}})


@pytest.fixture
async def tight_client(tight: Settings) -> AsyncIterator[tuple[Client, Services]]:
    services = Services.create(tight)
    async with Client(build_server(services), mode="legacy") as session:
        yield session, services
    await services.aclose()


def _bounded(schema: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(property, keyword, value) for every bound in a tool's input schema, optional branches included."""
    for name, prop in schema.get("properties", {}).items():
        for branch in [prop, *prop.get("anyOf", [])]:
            for keyword in BOUNDS:
                if keyword in branch:
                    yield name, keyword, branch[keyword]


def _config_limits(model: Any) -> dict[str, ConfigLimit]:
    return {name: item for name, field in model.model_fields.items() for item in field.metadata
            if isinstance(item, ConfigLimit)}


async def test_configured_limits_are_advertised_with_their_configured_values(tight_client: Any) -> None:
    client, services = tight_client
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in RUN_TOOLS:
        schema = tools[name].input_schema
        timeout = schema["properties"]["timeout_s"]
        assert [b["maximum"] for b in timeout["anyOf"] if b.get("type") == "number"] == [30], (name, timeout)
        if "program" in schema["properties"]:
            assert schema["properties"]["program"]["maxLength"] == 1000, name
    seen = 0
    for spec in services.registry.tools:
        for field, limit in _config_limits(spec.input_model).items():
            seen += 1
            advertised = [value for prop, keyword, value in _bounded(tools[spec.name].input_schema)
                          if prop == field and keyword == limit.keyword]
            assert advertised and all(value == limit.value(services.settings) for value in advertised), (spec.name, field)
    assert seen >= 7  # four timeouts and three programs at least


async def test_the_configured_limits_are_where_the_server_refuses(tight_client: Any) -> None:
    client, _ = tight_client
    program = "BEGIN { exit(); }"

    at_limit = await client.call_tool("validate_program", {"program": program, "timeout_s": 30})
    assert not at_limit.is_error or "timeout" not in at_limit.content[0].text, at_limit.content
    over = await client.call_tool("validate_program", {"program": program, "timeout_s": 30.5})
    assert over.is_error and "30" in over.content[0].text, over.content

    padded = program + " //" + "x" * (1000 - len(program) - 3)
    assert len(padded.encode()) == 1000
    fits = await client.call_tool("validate_program", {"program": padded})
    assert not fits.is_error or "bytes" not in fits.content[0].text, fits.content
    too_long = await client.call_tool("validate_program", {"program": padded + "x"})
    assert too_long.is_error and "1001 bytes" in too_long.content[0].text and "1000" in too_long.content[0].text


async def test_every_other_advertised_bound_is_the_input_models_own(client: Client, services: Services) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    checked = 0
    for spec in services.registry.tools:
        configured = _config_limits(spec.input_model)
        fields = {_schema_name(name, field): field for name, field in spec.input_model.model_fields.items()}
        for prop, keyword, value in _bounded(tools[spec.name].input_schema):
            if prop in configured:  # checked against the settings above
                continue
            field = fields[prop]
            adapter = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[name-defined]
            inside, outside = _around(keyword, value)
            with pytest.raises(ValidationError) as refused:
                adapter.validate_python(outside)
            assert {error["type"] for error in refused.value.errors()} & {
                "less_than_equal", "less_than", "too_long", "string_too_long"}, (spec.name, prop, refused.value)
            try:
                adapter.validate_python(inside)
            except ValidationError as error:  # may fail for another reason (a pattern), never for the bound
                assert not {e["type"] for e in error.errors()} & {"less_than_equal", "less_than", "too_long",
                                                                   "string_too_long"}, (spec.name, prop, error)
            checked += 1
    assert checked >= 10


def _schema_name(name: str, field: Any) -> str:
    alias = field.validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else name


def _around(keyword: str, value: Any) -> tuple[Any, Any]:
    """A value at the bound and one just past it."""
    if keyword == "maxLength":
        return "a" * value, "a" * (value + 1)
    if keyword == "maxItems":
        return ["a"] * value, ["a"] * (value + 1)
    if keyword == "exclusiveMaximum":
        return math.nextafter(value, -math.inf), value
    return value, (value + 1 if isinstance(value, int) else math.nextafter(value, math.inf))


async def test_timeout_is_accepted_wherever_a_run_takes_a_duration(client: Client) -> None:
    """MCPtrace's and the seed plans' argument name: the same check as timeout_s, the same refusal past it."""
    valid, broken = "BEGIN { exit(); }", "BEGIN {\x00}"
    for tool, arguments, refused_anyway in [
        ("validate_program", {"program": valid}, False),
        ("exec_program", {"program": broken}, True),  # refused for its program only: timeout was taken
        ("exec_with_retry", {"program": broken}, True),
        ("exec_bcc_tool", {"tool_name": "no-such-tool-here"}, True),
    ]:
        accepted = await client.call_tool(tool, {**arguments, "timeout": 5})
        assert accepted.is_error == refused_anyway, (tool, accepted.content)
        assert "timeout" not in (accepted.content[0].text if accepted.is_error else ""), (tool, accepted.content)
        both = await client.call_tool(tool, {**arguments, "timeout": 5, "timeout_s": 5})
        assert both.is_error and "timeout" in both.content[0].text, (tool, both.content)
    for tool, arguments in [("validate_program", {"program": valid}), ("exec_program", {"program": valid}),
                            ("exec_with_retry", {"program": valid}), ("exec_bcc_tool", {"tool_name": "execsnoop"})]:
        too_long = await client.call_tool(tool, {**arguments, "timeout": 601})  # refused before anything runs
        assert too_long.is_error and "600" in too_long.content[0].text, (tool, too_long.content)
