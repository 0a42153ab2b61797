"""MCP resources and prompts a plugin contributes next to its tools.

A plugin returns these from its ``mcptrace_tools`` hook together with its ToolSpecs: the hook is the
plugin's MCP surface, and the registry files each contribution under its kind (tool, resource,
resource template, prompt) by its type, so no new hook is needed. The server lists and serves them;
the CLI reads them through :func:`read_resource` too.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

if TYPE_CHECKING:
    from mcptrace_core.services import Services

URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
PROMPT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class ResourceNotFound(LookupError):
    """No resource has this URI; the message says what exists."""


@dataclass(frozen=True)
class ResourceContent:
    text: str
    mime_type: str = "text/markdown"


@dataclass(frozen=True)
class ResourceSpec:
    """A fixed resource: one URI whose text is made when it is read (so host facts are current)."""

    uri: str
    name: str
    description: str
    read: Callable[[Services], Awaitable[ResourceContent]]
    title: str | None = None
    mime_type: str = "text/markdown"

    def __post_init__(self) -> None:
        if not URI.match(self.uri):
            raise ValueError(f"resource uri {self.uri!r} must look like scheme://path")


@dataclass(frozen=True)
class ResourceTemplateSpec:
    """A family of resources, e.g. ``mcptrace://probes/{name}``; a placeholder matches the rest of the URI
    up to the next literal part, and its value is URL-decoded before ``read`` sees it.

    ``read`` raises ResourceNotFound when the values name nothing it knows.
    """

    uri_template: str
    name: str
    description: str
    read: Callable[[Services, dict[str, str]], Awaitable[ResourceContent]]
    title: str | None = None
    mime_type: str = "text/markdown"

    def __post_init__(self) -> None:
        if not PLACEHOLDER.search(self.uri_template):
            raise ValueError(f"resource template {self.uri_template!r} has no {{placeholder}}")

    @property
    def uri(self) -> str:
        """The registry names a template by its URI template."""
        return self.uri_template

    def match(self, uri: str) -> dict[str, str] | None:
        parts = PLACEHOLDER.split(self.uri_template)
        pattern = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts)
        )
        found = re.fullmatch(pattern, uri)
        return {key: unquote(value) for key, value in found.groupdict().items()} if found else None


@dataclass(frozen=True)
class PromptArgument:
    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class PromptMessage:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class PromptSpec:
    """A prompt template: ``render`` gets the arguments (required ones checked) and returns the messages."""

    name: str
    description: str
    render: Callable[[dict[str, str]], list[PromptMessage]]
    arguments: tuple[PromptArgument, ...] = field(default_factory=tuple)
    title: str | None = None

    def __post_init__(self) -> None:
        if not PROMPT_NAME.match(self.name):
            raise ValueError(f"prompt name {self.name!r} must match {PROMPT_NAME.pattern}")

    def messages(self, arguments: dict[str, str] | None) -> list[PromptMessage]:
        """Check the arguments (ValueError naming the missing or unknown ones) and render."""
        given = {key: value for key, value in (arguments or {}).items() if value is not None}
        known = {argument.name for argument in self.arguments}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(
                f"prompt {self.name}: unknown argument(s) {', '.join(unknown)} (accepted: {', '.join(sorted(known))})"
            )
        missing = [a.name for a in self.arguments if a.required and not str(given.get(a.name, "")).strip()]
        if missing:
            described = "; ".join(f"{a.name}: {a.description}" for a in self.arguments if a.name in missing)
            raise ValueError(f"prompt {self.name}: missing required argument(s): {described}")
        return self.render(given)


async def read_resource(services: Services, uri: str) -> ResourceContent:
    """The content of ``uri`` from the fixed resources, else the first template that matches it."""
    fixed = services.registry.get("resource", uri)
    if isinstance(fixed, ResourceSpec):
        return await fixed.read(services)
    for template in services.registry.resource_templates:
        values = template.match(uri)
        if values is not None:
            return await template.read(services, values)
    known = ", ".join(sorted(spec.uri for spec in services.registry.resources)) or "none"
    templates = ", ".join(spec.uri_template for spec in services.registry.resource_templates) or "none"
    raise ResourceNotFound(f"no resource {uri!r}; resources: {known}; templates: {templates}")
