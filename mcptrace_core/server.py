"""The MCP server, generated from the registry: one MCP tool per contributed ToolSpec, and the
resources, resource templates and prompts plugins contribute next to their tools.

Built on the low-level server of the official SDK so that schemas, validation and errors are ours:
arguments are validated against the tool's pydantic model before its handler runs, and every failure
(bad arguments, a ToolError, an unexpected exception) becomes an ``isError`` result with a message
that says what was wrong and what is allowed. Nothing a client sends can crash the server.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.shared.exceptions import MCPError

from mcptrace_core.config import Settings
from mcptrace_core.inputs import effective_input_schema
from mcptrace_core.logging import get_logger
from mcptrace_core.resources import PromptSpec, ResourceNotFound, ResourceSpec, ResourceTemplateSpec, read_resource
from mcptrace_core.schemas import compact_output_schema
from mcptrace_core.services import Services
from mcptrace_core.elicitation import InputRequired, McpConfirmer
from mcptrace_core.tools import ConfirmFn, ToolError, ToolSpec, invoke
from mcptrace_core.version import version

log = get_logger(__name__)

INSTRUCTIONS = """mcptrace traces the Linux kernel of the machine it runs on with bpftrace.
Start with bpf_info (what works on this host) and list_probes (what can be traced).
search_examples finds tested programs for a task (and says which run here); find_capabilities finds any tool.
validate_program checks a program without running it: errors with line, column and suggestions, the safety
policy's verdict (allow, confirm, block) and findings with fixes, probe counts and cost.
exec_program validates, then starts a program and returns an execution_id at once (wait=true waits and
streams progress); get_result pages its output and maps; stop_execution stops it and returns its final maps.
exec_with_retry runs and waits; on failure it returns structured errors and a chain_id to pass with the fix.
A program the policy wants confirmed is shown to the user; the user, not you, approves it.
Programs run as root on this host: prefer tracepoints, filter hot probes, keep timeouts short."""


def build_server(services: Services) -> Server[Any]:
    """An MCP server exposing every tool in the registry."""
    specs = {spec.name: spec for spec in services.registry.tools}
    compact = services.settings.server.output_schemas == "compact"
    listed = [_describe(spec, services.settings, compact) for spec in specs.values()]

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    secret = secrets.token_bytes(32)  # seals this server's questions in request_state

    async def on_call_tool(
        ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        spec = specs.get(params.name)
        if spec is None:
            return error_result(f"unknown tool {params.name!r}; available tools: {', '.join(sorted(specs))}")
        return await call_tool(
            services, spec, params.arguments, ctx.session.report_progress,
            confirm=McpConfirmer(ctx, params, secret), client=_client_name(ctx),
        )

    return Server(
        "mcptrace",
        version=version(),
        title="mcptrace",
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        **_surface_handlers(services),
    )


def _surface_handlers(services: Services) -> dict[str, Any]:
    """Resource and prompt handlers, only for what plugins contribute (capabilities follow the handlers)."""
    registry = services.registry
    resources = [_describe_resource(spec) for spec in registry.resources]
    templates = [_describe_template(spec) for spec in registry.resource_templates]
    prompts = {spec.name: spec for spec in registry.prompts}

    async def on_list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=resources)

    async def on_list_resource_templates(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def on_read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            content = await read_resource(services, uri)
        except ResourceNotFound as error:
            raise MCPError(types.INVALID_PARAMS, str(error)) from None
        except Exception as error:  # isolation boundary: a plugin's reader must not take the server down
            log.exception("resource read failed", uri=uri)
            raise MCPError(types.INTERNAL_ERROR, f"reading {uri} failed: {type(error).__name__}: {error}") from None
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=content.mime_type, text=content.text)]
        )

    async def on_list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[_describe_prompt(spec) for spec in prompts.values()])

    async def on_get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        spec = prompts.get(params.name)
        if spec is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown prompt {params.name!r}; prompts: {', '.join(sorted(prompts))}")
        try:
            messages = spec.messages(params.arguments)
        except ValueError as error:
            raise MCPError(types.INVALID_PARAMS, str(error)) from None
        return types.GetPromptResult(
            description=spec.description,
            messages=[
                types.PromptMessage(role=message.role, content=types.TextContent(type="text", text=message.text))
                for message in messages
            ],
        )

    handlers: dict[str, Any] = {}
    if resources or templates:
        handlers |= {"on_list_resources": on_list_resources, "on_read_resource": on_read_resource}
    if templates:
        handlers["on_list_resource_templates"] = on_list_resource_templates
    if prompts:
        handlers |= {"on_list_prompts": on_list_prompts, "on_get_prompt": on_get_prompt}
    return handlers


async def call_tool(
    services: Services,
    spec: ToolSpec,
    arguments: Any,
    progress: Any = None,
    confirm: ConfirmFn | None = None,
    client: str | None = None,
) -> types.CallToolResult | types.InputRequiredResult:
    """Run the tool and shape its result, or its failure, for MCP."""
    try:
        output = await invoke(services, spec, arguments, progress, confirm, client)
    except InputRequired as question:
        return question.result
    except ToolError as error:
        log.info("tool refused", tool=spec.name, reason=str(error)[:500])
        return error_result(str(error))
    except Exception as error:  # isolation boundary: a plugin's bug must not take the server down
        log.exception("tool crashed", tool=spec.name)
        return error_result(f"internal error in {spec.name}: {type(error).__name__}: {error}")
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=output.to_text())]
    content += [
        types.ImageContent(type="image", data=base64.b64encode(image.data).decode("ascii"), mime_type=image.mime_type)
        for image in output.images()
    ]
    return types.CallToolResult(content=content, structured_content=output.model_dump(mode="json"))


def _client_name(ctx: Any) -> str | None:
    params = ctx.session.client_params
    info = params.client_info if params is not None else None
    return f"{info.name} {info.version}".strip() if info is not None else None


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _describe(spec: ToolSpec, settings: Settings, compact: bool = True) -> types.Tool:
    output_schema = spec.output_model.model_json_schema()
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=effective_input_schema(spec.input_model, settings),  # limits as configured
        output_schema=compact_output_schema(output_schema) if compact else output_schema,
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
    )


def _describe_resource(spec: ResourceSpec) -> types.Resource:
    return types.Resource(
        uri=spec.uri, name=spec.name, title=spec.title, description=spec.description, mime_type=spec.mime_type
    )


def _describe_template(spec: ResourceTemplateSpec) -> types.ResourceTemplate:
    return types.ResourceTemplate(
        uri_template=spec.uri_template, name=spec.name, title=spec.title, description=spec.description,
        mime_type=spec.mime_type,
    )


def _describe_prompt(spec: PromptSpec) -> types.Prompt:
    return types.Prompt(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in spec.arguments
        ],
    )
