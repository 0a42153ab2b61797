"""Every hookspec is exercised by a plugin here and documented in the README (a datasette-style meta-test)."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from pydantic import Field

from mcptrace_core import hookimpl, hookspecs
from mcptrace_core.config import Settings
from mcptrace_core.extensions import ToolExtension
from mcptrace_core.interfaces import Analyzer, Backend, Embedder, ExamplePack, SafetyRule, TemplatePack
from mcptrace_core.models import HostCheck
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import CLI_ONLY_HOOKS, KINDS, build_registry
from mcptrace_core.tools import ToolInput, ToolOutput, ToolSpec

HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("mcptrace_"))
README = Path(__file__).resolve().parents[1] / "README.md"


class ToyBackend(Backend):
    name = "toy"
    description = "a backend that only reports"

    async def doctor(self) -> list[HostCheck]:
        return [HostCheck(name="toy", ok=True)]


class ToyRule(SafetyRule):
    id = "toy.rule"
    severity = "low"
    rationale = "because"
    fix = "do not"

    def check(self, program, context):  # type: ignore[no-untyped-def]
        return []


class ToyAnalyzer(Analyzer):
    name = "toy"
    description = "recognises nothing"

    def detect(self, text: str) -> float:
        return 0.0

    def parse(self, text: str):  # type: ignore[no-untyped-def]
        return None


class ToyTemplates(TemplatePack):
    name = "toy-templates"
    description = "no templates"

    def templates(self):  # type: ignore[no-untyped-def]
        return []


class ToyExamples(ExamplePack):
    name = "toy-examples"
    description = "no examples"

    def examples(self):  # type: ignore[no-untyped-def]
        return []


class ToyEmbedder(Embedder):
    name = "toy-embedder"
    dimensions = 2

    @property
    def model_id(self) -> str:
        return "toy-1"

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return [[1.0, 0.0] for _ in texts]


class Out(ToolOutput):
    ok: bool


async def _handler(call, args):  # type: ignore[no-untyped-def]
    return Out(ok=True)


class ToyPlugin:
    """One implementation of every hook; some take settings, some do not (pluggy allows both)."""

    @hookimpl
    def mcptrace_backends(self, settings: Settings) -> list[Backend]:
        assert isinstance(settings, Settings)
        return [ToyBackend()]

    @hookimpl
    def mcptrace_safety_rules(self) -> list[SafetyRule]:
        return [ToyRule()]

    @hookimpl
    def mcptrace_safety_policies(self):  # type: ignore[no-untyped-def]
        return [SimpleNamespace(name="toy-policy")]

    @hookimpl
    def mcptrace_analyzers(self) -> list[Analyzer]:
        return [ToyAnalyzer()]

    @hookimpl
    def mcptrace_template_packs(self) -> list[TemplatePack]:
        return [ToyTemplates()]

    @hookimpl
    def mcptrace_example_packs(self) -> list[ExamplePack]:
        return [ToyExamples()]

    @hookimpl
    def mcptrace_embedders(self) -> list[Embedder]:
        return [ToyEmbedder()]

    @hookimpl
    def mcptrace_run_watchers(self):  # type: ignore[no-untyped-def]
        return [SimpleNamespace(name="toy-watcher", watch=lambda run: None)]

    @hookimpl
    def mcptrace_tools(self, settings: Settings) -> list[ToolSpec]:
        return [ToolSpec(name="toy_tool", description="a toy", input_model=ToolInput, output_model=Out, handler=_handler)]

    @hookimpl
    def mcptrace_tool_extensions(self) -> list[ToolExtension]:
        return [ToolExtension(
            name="toy-extension", tools=("toy_tool",),
            input_fields={"where": (str | None, Field(None, description="elsewhere"))},
            output_fields={"elsewhere": (bool | None, Field(None, description="answered elsewhere"))},
            claims=lambda call, tool, args: args.where is not None, handler=_extended,
        )]

    @hookimpl
    def mcptrace_cli_commands(self) -> list[click.Command]:
        return [click.Command("toy-command", callback=lambda: None)]


async def _extended(call, spec, args, output_model):  # type: ignore[no-untyped-def]
    return output_model(ok=True, elsewhere=True)


EXPECTED = {
    "mcptrace_backends": "toy",
    "mcptrace_safety_rules": "toy.rule",
    "mcptrace_safety_policies": "toy-policy",
    "mcptrace_analyzers": "toy",
    "mcptrace_template_packs": "toy-templates",
    "mcptrace_example_packs": "toy-examples",
    "mcptrace_embedders": "toy-embedder",
    "mcptrace_run_watchers": "toy-watcher",
    "mcptrace_tools": "toy_tool",
    "mcptrace_tool_extensions": "toy-extension",
    "mcptrace_cli_commands": "toy-command",
}


def test_every_hookspec_is_known_to_the_registry_and_this_test() -> None:
    assert HOOKS == sorted(KINDS) == sorted(EXPECTED)


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_contributes_through_the_registry(hook: str, settings: Settings) -> None:
    pm = build_plugin_manager(load_entry_points=False, plugins=[("toy", ToyPlugin())])
    registry = build_registry(pm, settings, hooks=[hook] if hook in CLI_ONLY_HOOKS else None)
    kind, _ = KINDS[hook]
    name = EXPECTED[hook]
    assert registry.get(kind, name) is not None, f"{hook} contribution not collected"
    assert registry.origin(kind, name) == "toy"
    assert not registry.problems
    if hook in CLI_ONLY_HOOKS:  # a server never calls it
        assert build_registry(pm, settings).get(kind, name) is None


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hookspec_is_documented(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    assert ":param settings:" in (spec.__doc__ or "") and ":return:" in (spec.__doc__ or "")
    assert f"`{hook}" in README.read_text(encoding="utf-8"), f"README does not document {hook}"


def test_a_contribution_without_a_name_is_reported(settings: Settings) -> None:
    class Nameless:
        @hookimpl
        def mcptrace_safety_policies(self):  # type: ignore[no-untyped-def]
            return [object()]

    registry = build_registry(build_plugin_manager(load_entry_points=False, plugins=[("nameless", Nameless())]), settings)
    assert any("nameless" in problem and "no name" in problem for problem in registry.problems)


@pytest.mark.anyio
async def test_an_extension_adds_fields_and_takes_only_the_calls_it_claims(settings: Settings) -> None:
    from mcptrace_core.services import Services
    from mcptrace_core.tools import invoke

    pm = build_plugin_manager(load_entry_points=False, plugins=[("toy", ToyPlugin())])
    services = Services(settings, pm, build_registry(pm, settings), None, None)  # type: ignore[arg-type]
    spec = services.registry.get("tool", "toy_tool")
    assert "where" in spec.input_model.model_fields and "elsewhere" in spec.output_model.model_fields
    assert (await invoke(services, spec, {})).model_dump() == {"ok": True}  # the tool's own handler
    claimed = await invoke(services, spec, {"where": "there"})
    assert claimed.model_dump() == {"ok": True, "elsewhere": True}
