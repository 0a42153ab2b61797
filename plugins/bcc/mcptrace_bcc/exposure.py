"""`full` exposure: each BCC tool that runs here is also its own MCP tool, e.g. ``bcc_execsnoop``.

Its input model is generated from the tool's parsed options: one flat field per option or positional
(flags are booleans, numbers integers, choices enums), plus timeout_s and wait. The list comes from the
disk caches only (a few tens of ms), so it never slows the server's start; a tool whose schema was
never learned appears after `mcptrace bcc list` (or a list_bcc_tools call) has learned it.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Literal

from pydantic import Field, create_model

from collections.abc import Callable

from mcptrace_bcc.catalog import BccTool
from mcptrace_bcc.tools import BccExecution, ExecBccToolInput, run_tool
from mcptrace_core.tools import TOOL_NAME, ToolCall, ToolInput, ToolSpec

_RUN_FIELDS = ("timeout_s", "wait", "confirm")


def per_tool_specs(tools: list[BccTool], refused: Callable[[BccTool], bool]) -> list[ToolSpec]:
    """A ToolSpec for every usable tool that is not ``refused`` (by the safety policy, whatever its arguments)."""
    specs = []
    for tool in tools:
        name = "bcc_" + tool.name.replace("-", "_").lower()
        if tool.usability.usable and TOOL_NAME.match(name) and not refused(tool):
            specs.append(_spec(name, tool))
    return specs


def _spec(name: str, tool: BccTool) -> ToolSpec:
    fields: dict[str, Any] = {}
    keys: dict[str, str] = {}  # field name -> argument key
    for option in tool.schema.options:
        field = _field_name(option.name, fields)
        keys[field] = option.name
        help_text = option.help or f"{'/'.join(option.flags)}"
        if option.value == "flag":
            fields[field] = (bool, Field(False, description=f"{help_text} ({'/'.join(option.flags)})"))
        else:
            value_type = _value_type(option.value, option.choices)
            if option.optional_value:
                value_type = value_type | bool  # type: ignore[assignment]
            fields[field] = (value_type | None, Field(None, description=f"{help_text} ({'/'.join(option.flags)})",
                                                      **_constraints(option.value, option.choices)))
    for positional in tool.schema.positionals:
        field = _field_name(positional.name, fields)
        keys[field] = positional.name
        value_type = _value_type(positional.value, positional.choices)
        description = f"{positional.help or positional.name} (positional)"
        default = ... if positional.required else None
        fields[field] = (value_type if positional.required else value_type | None,
                         Field(default, description=description, **_constraints(positional.value, positional.choices)))
    for run_field in _RUN_FIELDS:
        run_info = ExecBccToolInput.model_fields[run_field]
        fields[run_field] = (run_info.annotation, run_info)
    model = create_model(f"Bcc_{name}_Input", __base__=ToolInput, **fields)

    async def handler(call: ToolCall, args: Any) -> BccExecution:
        given = args.model_dump(exclude_defaults=True)
        arguments = {keys[field]: value for field, value in given.items() if field in keys}
        return await run_tool(call, tool.name, arguments, args.timeout_s, args.wait, args.confirm)

    description = tool.schema.description or f"the {tool.name} tool"
    return ToolSpec(
        name=name,
        title=f"BCC {tool.name}",
        description=(
            f"{description.rstrip('.')}. Runs the {tool.file.kind} BCC tool `{tool.name}` on this host (it attaches "
            f"here); the same as exec_bcc_tool with tool_name={tool.name!r}. Output lines, tables and histograms "
            "through get_result."
        )[:1000],
        input_model=model,
        output_model=BccExecution,
        handler=handler,
        read_only=False,
        idempotent=False,
    )


def _field_name(name: str, taken: dict[str, Any]) -> str:
    field = re.sub(r"\W", "_", name)
    if not field.isidentifier() or keyword.iskeyword(field) or field.startswith("_"):
        field = f"opt_{field.lstrip('_')}"
    while field in taken or field in _RUN_FIELDS:
        field = f"{field}_"
    return field


def _value_type(kind: str, choices: list[str] | None) -> Any:
    if choices:
        return Literal[tuple(choices)]  # type: ignore[return-value]
    return int if kind == "int" else str


def _constraints(kind: str, choices: list[str] | None) -> dict[str, Any]:
    if choices or kind == "int":
        return {}
    return {"min_length": 1, "max_length": 512}
