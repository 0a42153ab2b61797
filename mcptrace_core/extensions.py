"""Tool extensions: a plugin adds fields to other plugins' tools and takes the calls that use them.

This is how a run tool learns to run somewhere else without the core knowing where: the fleet plugin
adds a ``hosts`` field to exec_program, get_result, stop_execution (and the other run tools) and
handles every call it *claims* (one that names hosts, or an execution id of a fleet run); every other
call goes to the tool's own handler unchanged, with the added fields removed. The extended tool keeps
its name and its output model gains the extension's (optional) output fields, so a client sees one
tool whose schema says both what it does here and what it does on the fleet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, create_model

from mcptrace_core.tools import ToolCall, ToolOutput, ToolSpec

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from mcptrace_core.registry import Registry

ClaimFn = Callable[[ToolCall, str, Any], bool]
"""``claims(call, tool_name, args)``: True when the extension handles this call."""
ExtensionHandler = Callable[[ToolCall, ToolSpec, Any, type[ToolOutput]], Awaitable[ToolOutput]]
"""``handler(call, original_spec, args, output_model)``: the extended output model is the one to return."""


@dataclass(frozen=True)
class ToolExtension:
    """Extra input (and output) fields on named tools, and the handler of the calls that use them."""

    name: str
    tools: tuple[str, ...]
    """The tools extended; names not loaded are skipped."""
    input_fields: Mapping[str, tuple[Any, FieldInfo]]
    """Added input fields: name -> (annotation, pydantic Field). Each must default to a value meaning 'unused'."""
    claims: ClaimFn
    handler: ExtensionHandler
    output_fields: Mapping[str, tuple[Any, FieldInfo]] = ()  # type: ignore[assignment]
    """Added output fields, optional (default None), filled only by the extension's handler."""
    output_text: Callable[[ToolOutput, str], str] | None = None
    """``output_text(output, own_text)``: the human text of an extended output (e.g. one line per host)."""
    aclose: Callable[[], Awaitable[None]] | None = None
    """Called when the server or command ends (Services.aclose): stop what the extension runs."""


def apply_extensions(registry: Registry) -> None:
    """Replace each extended tool in ``registry`` by one with the added fields, routing claimed calls."""
    for contribution in registry.contributions("tool_extension"):
        extension: ToolExtension = contribution.item
        for tool_name in extension.tools:
            spec = registry.get("tool", tool_name)
            if isinstance(spec, ToolSpec):
                registry.replace("tool", tool_name, extend(spec, extension))


def extend(spec: ToolSpec, extension: ToolExtension) -> ToolSpec:
    """``spec`` with ``extension``'s fields: unclaimed calls reach the original handler as before."""
    input_model = _derived(spec.input_model, dict(extension.input_fields))
    output_model = _derived(spec.output_model, dict(extension.output_fields or {}), extension.output_text)

    async def handler(call: ToolCall, args: Any) -> ToolOutput:
        if extension.claims(call, spec.name, args):
            return await extension.handler(call, spec, args, output_model)
        return await spec.handler(call, base_input(spec, args))

    return replace(spec, input_model=input_model, output_model=output_model, handler=handler)


def base_input(spec: ToolSpec, args: Any, **changes: Any) -> Any:
    """``args`` of an extended tool as ``spec``'s own handler takes them: the added fields left out, and
    ``changes`` applied (an extension's handler calling the original tool for its local part)."""
    values = {name: getattr(args, name) for name in spec.input_model.model_fields}
    values.update(changes)
    return spec.input_model.model_validate(values)


def _derived(model: type[BaseModel], fields: dict[str, Any], text: Callable[[Any, str], str] | None = None) -> Any:
    if not fields:
        return model
    derived = create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields)  # type: ignore[call-overload]
    if text is None:
        return derived
    own_text = model.to_text  # type: ignore[attr-defined]

    def to_text(self: Any) -> str:
        return text(self, own_text(self))

    return type(model.__name__, (derived,), {"to_text": to_text, "__module__": model.__module__})
