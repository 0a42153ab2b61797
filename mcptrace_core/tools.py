"""What a plugin needs to contribute an MCP tool: a spec, a per-call context and an error type.

A tool is a pydantic input model (flat: one level of scalar fields, each with a description and
constraints), a pydantic output model and an async handler. The server turns the models into JSON
schemas, validates arguments before the handler runs and turns a ToolError into an MCP ``isError``
result whose message says what was wrong and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from mcptrace_core.services import Services

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ToolError(Exception):
    """A tool failed for a reason the caller can act on; the message is shown to the caller as is."""


class ToolInput(BaseModel):
    """Base of tool input models: unknown arguments are errors, strings are stripped of nothing."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Image:
    """An image a tool returns beside its text (a chart); sent as MCP image content, not as JSON."""

    data: bytes
    mime_type: str = "image/png"


class ToolOutput(BaseModel):
    """Base of tool output models.

    ``to_text`` is the short human text sent next to the structured content; a tool overrides it
    to say what matters in a few lines. ``images`` are extra content blocks (none by default).
    """

    def to_text(self) -> str:
        return self.model_dump_json(exclude_none=True)

    def images(self) -> list[Image]:
        return []


ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
ConfirmFn = Callable[[str], Awaitable[bool]]
"""Shows a question to the user and returns True only for an explicit yes."""


class ToolCall:
    """The context of one tool call: the shared services and the channels back to the caller and the user."""

    def __init__(
        self,
        services: Services,
        tool: str,
        progress: ProgressFn | None = None,
        confirm: ConfirmFn | None = None,
        client: str | None = None,
    ) -> None:
        self.services = services
        self.tool = tool
        self.client = client
        """Who is calling (the MCP client's name and version, or 'cli'), for the audit log."""
        self._progress = progress
        self._confirm = confirm

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Send an MCP progress notification; a no-op when the caller asked for none."""
        if self._progress is not None:
            await self._progress(progress, total, message)

    @property
    def can_confirm(self) -> bool:
        """Whether there is any way to ask the user (the client may still lack the capability)."""
        return self._confirm is not None

    async def confirm(self, message: str) -> bool:
        """Ask the user, not the model, to approve; False when nobody can be asked (fail closed).

        Over MCP this is an elicitation the client shows to its user. On the 2026-07-28 protocol it
        may end the call early (the client answers and calls again), so call it before doing anything
        that must not happen twice.
        """
        if self._confirm is None:
            return False
        return await self._confirm(message)


ToolHandler = Callable[[ToolCall, Any], Awaitable[ToolOutput]]
WarmFn = Callable[["Services", Callable[[int, int], Awaitable[None]] | None, bool], Awaitable[str]]
"""``warm(services, progress, rebuild)``: see ToolSpec.warm."""


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool. ``read_only`` and the other hints become the tool's annotations; set them honestly."""

    name: str
    description: str
    input_model: type[ToolInput]
    output_model: type[ToolOutput]
    handler: ToolHandler
    title: str | None = None
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    warm: WarmFn | None = None
    """What the tool would otherwise do on its first call (indexes, embeddings), done ahead of it by
    ``mcptrace index build``: ``progress(done, total)`` while embedding, ``rebuild`` to embed again;
    returns one line saying what is ready."""

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME.pattern}")


async def invoke(
    services: Services,
    spec: ToolSpec,
    arguments: Any,
    progress: ProgressFn | None = None,
    confirm: ConfirmFn | None = None,
    client: str | None = None,
) -> ToolOutput:
    """Validate ``arguments`` against the tool's input model and run its handler.

    Bad arguments raise a ToolError that names each wrong field, how it is wrong and what the tool
    accepts; the server and the CLI both call tools through here.
    """
    try:
        args = spec.input_model.model_validate(arguments if arguments is not None else {})
    except ValidationError as error:
        raise ToolError(describe_validation_error(spec, error)) from None
    return await spec.handler(ToolCall(services, spec.name, progress, confirm, client), args)


def describe_validation_error(spec: ToolSpec, error: ValidationError) -> str:
    """Say which argument is wrong, how, and what the tool accepts there."""
    return f"invalid arguments for {spec.name}: " + describe_fields(spec.input_model, error)


def describe_fields(model: type[BaseModel], error: ValidationError, noun: str = "argument", prefix: str = "") -> str:
    """Each wrong field of ``model``: where, how it is wrong, the value given, and the field's description.

    Shared by tool arguments and template parameters (``prefix`` puts them in context: 'parameters.pid').
    """
    fields = model.model_fields
    problems = []
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else noun + "s"
        location = prefix + (".".join(str(part) for part in item["loc"]) or noun + "s")
        if item["type"] == "extra_forbidden":
            problems.append(f"{location}: unknown {noun} (accepted: {', '.join(fields) or 'none'})")
            continue
        problem = f"{location}: {item['msg']} (got {_show(item.get('input'))})"
        description = fields[name].description if name in fields else None
        problems.append(f"{problem}; {name} is: {description}" if description else problem)
    return "; ".join(problems)


def _show(value: Any) -> str:
    """A short rendering of a bad value: a 1 MB program is described, not echoed."""
    text = repr(value)
    if len(text) <= 60:
        return text
    size = f" of length {len(value)}" if hasattr(value, "__len__") else ""
    return f"{type(value).__name__}{size}"
