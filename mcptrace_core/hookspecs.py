"""The plugin contract: every hook a plugin may implement.

Each hook returns a list of contributions. The registry calls every implementation on its own, stamps
each contribution with the plugin that made it and rejects duplicate names, so one broken plugin never
takes the others down. Hooks receive the effective settings; an implementation may leave the argument
out when it does not need it (pluggy passes only the arguments an implementation names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from mcptrace_core import PROJECT_NAME

if TYPE_CHECKING:
    import click

    from mcptrace_core.config import Settings
    from mcptrace_core.extensions import ToolExtension
    from mcptrace_core.interfaces import (
        Analyzer,
        Backend,
        Embedder,
        ExamplePack,
        SafetyRule,
        TemplatePack,
    )
    from mcptrace_core.safety.models import SafetyPolicy
    from mcptrace_core.runs.watch import RunWatcher
    from mcptrace_core.resources import PromptSpec, ResourceSpec, ResourceTemplateSpec
    from mcptrace_core.registry import Registry
    from mcptrace_core.tools import ToolSpec

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def mcptrace_backends(settings: Settings) -> list[Backend]:
    """Contribute tracing backends: ways to run tracing work on this host (bpftrace, BCC tools, ...).

    :param settings: the effective settings; a backend reads its own section (``settings.bpftrace``).
    :return: backends, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_safety_rules(settings: Settings) -> list[SafetyRule]:
    """Contribute safety rules that inspect a parsed program before it runs.

    :param settings: the effective settings.
    :return: rules, each with an ``id`` unique across all plugins, a severity, a rationale and a fix.
    """


@hookspec
def mcptrace_safety_policies(settings: Settings) -> list[SafetyPolicy]:
    """Contribute safety policies: named sets of rule settings that turn findings into a verdict.

    A company ships its policy as a pip-installable package implementing this hook.

    :param settings: the effective settings.
    :return: policies, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_analyzers(settings: Settings) -> list[Analyzer]:
    """Contribute output analyzers that recognise a kind of trace output and parse it into numbers.

    :param settings: the effective settings.
    :return: analyzers, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_template_packs(settings: Settings) -> list[TemplatePack]:
    """Contribute packs of parameterised program templates.

    :param settings: the effective settings.
    :return: template packs, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_example_packs(settings: Settings) -> list[ExamplePack]:
    """Contribute packs of example programs that search can find by meaning.

    :param settings: the effective settings.
    :return: example packs, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_embedders(settings: Settings) -> list[Embedder]:
    """Contribute text embedders for the semantic index (the default is a local ONNX model).

    :param settings: the effective settings.
    :return: embedders, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_run_watchers(settings: Settings) -> list[RunWatcher]:
    """Contribute run watchers: measurements and runtime limits applied to every run while it runs.

    The run manager asks each watcher for a check when a run starts (``watch(run)``), samples the checks
    every ``runs.watch_interval_s`` seconds and stops a run whose check returns a ``Breach`` the way
    stop_execution does (maps kept), with the breach's status and figure. See mcptrace_core.runs.watch.

    :param settings: the effective settings.
    :return: watchers, each with a ``name`` unique across all plugins.
    """


@hookspec
def mcptrace_tool_extensions(settings: Settings) -> list[ToolExtension]:
    """Contribute tool extensions: extra fields on other plugins' tools, and the handler of the calls that
    use them (e.g. the fleet plugin's ``hosts`` on the run tools). See ``mcptrace_core.extensions``.

    :param settings: the effective settings.
    :return: extensions, each with a ``name`` unique across all plugins; they apply after every tool is collected.
    """


@hookspec
def mcptrace_cli_commands(settings: Settings) -> list[click.Command]:
    """Contribute ``mcptrace`` subcommands (a click command or group), e.g. ``mcptrace fleet``.

    Looked up only when the command line names a command the core does not have, or lists them all.

    :param settings: the effective settings.
    :return: click commands, each with a name no built-in command has.
    """


@hookspec
def mcptrace_tools(
    settings: Settings, registry: Registry
) -> list[ToolSpec | ResourceSpec | ResourceTemplateSpec | PromptSpec]:
    """Contribute the plugin's MCP surface: tools (typed input and output models plus an async handler),
    and the resources, resource templates and prompts that go with them (``mcptrace_core.resources``).

    :param settings: the effective settings (tools may depend on the exposure mode).
    :param registry: every other contribution, already collected (this hook is called last), for tools
        generated from them, e.g. one tool per template in ``full`` exposure mode.
    :return: tool specs, each with a ``name`` unique across all plugins; resources unique by ``uri``,
        templates by ``uri_template``, prompts by ``name``.
    """
