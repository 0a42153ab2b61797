"""The MCP server, generated from the registry: one MCP tool per contributed ToolSpec.

Built on the low-level server of the official SDK so that schemas, validation and errors are ours:
arguments are validated against the tool's pydantic model before its handler runs, and every failure
(bad arguments, a ToolError, an unexpected exception) becomes an ``isError`` result with a message
that says what was wrong and what is allowed. Nothing a client sends can crash the server.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import Server

from mcptrace_core.logging import get_logger
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError, ToolSpec, invoke
from mcptrace_core.version import version

log = get_logger(__name__)

INSTRUCTIONS = """mcptrace traces the Linux kernel of the machine it runs on with bpftrace.
Start with bpf_info (what works on this host) and list_probes (what can be traced).
search_examples finds tested programs for a task (and says which run here); find_capabilities finds any tool.
exec_program starts a bpftrace program and returns an execution_id at once (wait=true waits and streams
progress); get_result pages its output and maps; stop_execution stops it and returns its final maps.
Programs run as root on this host: prefer tracepoints, filter hot probes, keep timeouts short."""


def build_server(services: Services) -> Server[Any]:
    """An MCP server exposing every tool in the registry."""
    specs = {spec.name: spec for spec in services.registry.tools}
    listed = [_describe(spec) for spec in specs.values()]

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = specs.get(params.name)
        if spec is None:
            return error_result(f"unknown tool {params.name!r}; available tools: {', '.join(sorted(specs))}")
        return await call_tool(services, spec, params.arguments, ctx.session.report_progress)

    return Server(
        "mcptrace",
        version=version(),
        title="mcptrace",
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


async def call_tool(services: Services, spec: ToolSpec, arguments: Any, progress: Any = None) -> types.CallToolResult:
    """Run the tool and shape its result, or its failure, for MCP."""
    try:
        output = await invoke(services, spec, arguments, progress)
    except ToolError as error:
        log.info("tool refused", tool=spec.name, reason=str(error)[:500])
        return error_result(str(error))
    except Exception as error:  # isolation boundary: a plugin's bug must not take the server down
        log.exception("tool crashed", tool=spec.name)
        return error_result(f"internal error in {spec.name}: {type(error).__name__}: {error}")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=output.to_text())],
        structured_content=output.model_dump(mode="json"),
    )


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _describe(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_model.model_json_schema(),
        output_schema=spec.output_model.model_json_schema(),
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
    )
