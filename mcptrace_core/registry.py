"""Collect every contribution of every plugin, stamped with the plugin that made it.

Each hook implementation is called on its own, so a plugin whose hook raises is logged and skipped
while the rest load. Two contributions of the same kind with the same name are a conflict: the second
is rejected and the error names both plugins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mcptrace_core.logging import get_logger
from mcptrace_core.resources import PromptSpec, ResourceSpec, ResourceTemplateSpec

if TYPE_CHECKING:
    from mcptrace_core.config import Settings
    from mcptrace_core.interfaces import Analyzer, Backend, Embedder, ExamplePack, SafetyRule, TemplatePack
    from mcptrace_core.plugins import PluginManager
    from mcptrace_core.runs.watch import RunWatcher
    from mcptrace_core.safety.models import SafetyPolicy
    from mcptrace_core.tools import ToolSpec

log = get_logger(__name__)

T = TypeVar("T")

# hook name -> (registry kind, attribute that names a contribution), in call order: mcptrace_tools comes
# last so that it can build tools from every other contribution (it may take the registry).
KINDS: dict[str, tuple[str, str]] = {
    "mcptrace_backends": ("backend", "name"),
    "mcptrace_safety_rules": ("safety_rule", "id"),
    "mcptrace_safety_policies": ("safety_policy", "name"),
    "mcptrace_analyzers": ("analyzer", "name"),
    "mcptrace_template_packs": ("template_pack", "name"),
    "mcptrace_example_packs": ("example_pack", "name"),
    "mcptrace_embedders": ("embedder", "name"),
    "mcptrace_run_watchers": ("run_watcher", "name"),
    "mcptrace_tool_extensions": ("tool_extension", "name"),
    "mcptrace_cli_commands": ("cli_command", "name"),
    "mcptrace_tools": ("tool", "name"),
}
CLI_ONLY_HOOKS = frozenset({"mcptrace_cli_commands"})
"""Hooks only the command line asks (a server has no use for their contributions)."""

# mcptrace_tools is a plugin's MCP surface: besides tools it may return resources, resource templates
# and prompts, each filed under its own kind: type -> (registry kind, attribute that names it).
MCP_SURFACE_KINDS: dict[type, tuple[str, str]] = {
    ResourceSpec: ("resource", "uri"),
    ResourceTemplateSpec: ("resource_template", "uri_template"),
    PromptSpec: ("prompt", "name"),
}


class DuplicateContributionError(Exception):
    """Two plugins contributed the same kind of thing under the same name."""

    def __init__(self, kind: str, name: str, first_plugin: str, second_plugin: str) -> None:
        super().__init__(
            f"{kind} {name!r} from plugin {second_plugin!r} conflicts with the one from plugin "
            f"{first_plugin!r}; kept the one from {first_plugin!r}"
        )
        self.kind, self.name = kind, name
        self.first_plugin, self.second_plugin = first_plugin, second_plugin


@dataclass(frozen=True)
class Contribution(Generic[T]):
    item: T
    plugin: str


@dataclass
class Registry:
    """Contributions by kind and name, in plugin load order."""

    _items: dict[str, dict[str, Contribution[Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str, item: Any, plugin: str) -> None:
        """Add a contribution; raise DuplicateContributionError when the name is taken."""
        existing = self._items.setdefault(kind, {}).get(name)
        if existing is not None:
            raise DuplicateContributionError(kind, name, existing.plugin, plugin)
        self._items[kind][name] = Contribution(item, plugin)

    def replace(self, kind: str, name: str, item: Any) -> None:
        """Put ``item`` in place of the contribution ``name`` (same origin plugin); used by tool extensions."""
        existing = self._items[kind][name]
        self._items[kind][name] = Contribution(item, existing.plugin)

    def contributions(self, kind: str) -> list[Contribution[Any]]:
        return list(self._items.get(kind, {}).values())

    def get(self, kind: str, name: str) -> Any | None:
        contribution = self._items.get(kind, {}).get(name)
        return contribution.item if contribution else None

    def origin(self, kind: str, name: str) -> str | None:
        """The plugin that contributed ``name``."""
        contribution = self._items.get(kind, {}).get(name)
        return contribution.plugin if contribution else None

    def _all(self, kind: str) -> Iterator[Any]:
        return (contribution.item for contribution in self._items.get(kind, {}).values())

    @property
    def backends(self) -> list[Backend]:
        return list(self._all("backend"))

    @property
    def safety_rules(self) -> list[SafetyRule]:
        return list(self._all("safety_rule"))

    @property
    def safety_policies(self) -> list[SafetyPolicy]:
        return list(self._all("safety_policy"))

    @property
    def analyzers(self) -> list[Analyzer]:
        return list(self._all("analyzer"))

    @property
    def template_packs(self) -> list[TemplatePack]:
        return list(self._all("template_pack"))

    @property
    def example_packs(self) -> list[ExamplePack]:
        return list(self._all("example_pack"))

    @property
    def embedders(self) -> list[Embedder]:
        return list(self._all("embedder"))

    @property
    def run_watchers(self) -> list[RunWatcher]:
        return list(self._all("run_watcher"))

    @property
    def tools(self) -> list[ToolSpec]:
        return list(self._all("tool"))

    @property
    def resources(self) -> list[ResourceSpec]:
        return list(self._all("resource"))

    @property
    def resource_templates(self) -> list[ResourceTemplateSpec]:
        return list(self._all("resource_template"))

    @property
    def prompts(self) -> list[PromptSpec]:
        return list(self._all("prompt"))


def build_registry(pm: PluginManager, settings: Settings, hooks: Iterable[str] | None = None) -> Registry:
    """Call every hook implementation of every plugin in isolation and collect what they return.

    ``hooks``: only these (default: all but the CLI-only hooks, which the command line collects itself).
    """
    registry = Registry()
    wanted = set(KINDS) - CLI_ONLY_HOOKS if hooks is None else set(hooks)
    for hook_name, (kind, name_attribute) in KINDS.items():
        if hook_name not in wanted:
            continue
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # in registration (load) order: the first comer keeps a name
            plugin = impl.plugin_name
            arguments = {"settings": settings, "registry": registry}  # tools come last: they see the rest
            kwargs = {name: arguments[name] for name in impl.argnames if name in arguments}
            try:
                items = impl.function(**kwargs) or []
            except Exception as error:  # isolation boundary around third-party code
                _problem(registry, f"plugin {plugin!r}: {hook_name} raised {type(error).__name__}: {error}")
                continue
            for item in items:
                if hook_name == "mcptrace_tools":
                    kind, name_attribute = MCP_SURFACE_KINDS.get(type(item), KINDS[hook_name])
                name = getattr(item, name_attribute, None)
                if not isinstance(name, str) or not name:
                    _problem(registry, f"plugin {plugin!r}: a {kind} from {hook_name} has no {name_attribute}")
                    continue
                try:
                    registry.add(kind, name, item, plugin)
                except DuplicateContributionError as error:
                    _problem(registry, str(error))
    from mcptrace_core.extensions import apply_extensions

    apply_extensions(registry)
    return registry


def _problem(registry: Registry, message: str) -> None:
    registry.problems.append(message)
    log.error("plugin contribution skipped", problem=message)
