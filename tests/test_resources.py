"""MCP resources and the "trace" prompt, over a real MCP session; the core surface they rest on."""

from __future__ import annotations

import json
import platform
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp.shared.exceptions import MCPError

from mcptrace_core import hookimpl
from mcptrace_core.cli import cli
from mcptrace_core.config import Settings
from mcptrace_core.models import ErrorCategory
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import build_registry
from mcptrace_core.resources import PromptSpec, ResourceContent, ResourceSpec, ResourceTemplateSpec
from mcptrace_knowledge.features import load_features
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

FIXED = {
    "mcptrace://probes",
    "mcptrace://guide/troubleshooting",
    "mcptrace://guide/feature-matrix",
    "mcptrace://host/capabilities",
}


async def _read(client, uri: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    content = (await client.read_resource(uri)).contents[0]
    return content.text, content.mime_type


async def test_resources_templates_and_prompts_are_listed(client) -> None:  # type: ignore[no-untyped-def]
    resources = {resource.uri: resource for resource in (await client.list_resources()).resources}
    assert FIXED <= set(resources)
    assert all(resource.description and resource.name for resource in resources.values())
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    assert "mcptrace://probes/{name}" in templates
    prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    assert [(a.name, a.required) for a in prompts["trace"].arguments] == [("goal", True), ("target", False)]


async def test_troubleshooting_covers_every_error_category(client) -> None:  # type: ignore[no-untyped-def]
    text, mime = await _read(client, "mcptrace://guide/troubleshooting")
    assert mime == "text/markdown"
    sections = {line[3:].strip(): None for line in text.splitlines() if line.startswith("## ")}
    assert set(typing.get_args(ErrorCategory)) <= set(sections)
    for category in ("syntax", "probe_not_found", "attach", "verifier", "permission"):
        body = text.split(f"## {category}\n", 1)[1].split("\n## ", 1)[0]
        assert "Causes:" in body and "Fixes:" in body, category


async def test_feature_matrix_lists_every_feature_with_this_hosts_answer(client) -> None:  # type: ignore[no-untyped-def]
    text, _ = await _read(client, "mcptrace://guide/feature-matrix")
    assert platform.release() in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| feature")]
    assert len(rows) == len(load_features()) >= 12
    for row in rows:
        here = row.split(" | ")[4]
        assert here.startswith(("yes", "no", "likely")), row


@requires_bpftrace
async def test_feature_matrix_agrees_with_the_measured_probe_types(client) -> None:  # type: ignore[no-untyped-def]
    info = (await client.call_tool("bpf_info", {})).structured_content
    text, _ = await _read(client, "mcptrace://guide/feature-matrix")
    kprobe_row = next(line for line in text.splitlines() if line.startswith("| kprobe / kretprobe"))
    assert kprobe_row.split(" | ")[4].startswith(
        "yes" if "kprobe" in info["usable_probe_types"] else "no (measured"
    )


@requires_bpftrace
async def test_host_capabilities_is_the_bpf_info_report(client) -> None:  # type: ignore[no-untyped-def]
    text, mime = await _read(client, "mcptrace://host/capabilities")
    report = json.loads(text)
    assert mime == "application/json"
    assert report["kernel_release"] == platform.release() and "tracepoint" in report["usable_probe_types"]


@requires_bpftrace
async def test_probe_pages_show_this_hosts_fields(client) -> None:  # type: ignore[no-untyped-def]
    text, _ = await _read(client, "mcptrace://probes/tracepoint:sched:sched_switch")
    assert text.startswith("# tracepoint:sched:sched_switch") and "exists here: yes; usable here: yes" in text
    assert "- `char prev_comm[16]` (useful)" in text and "## Companions" in text and "## Combinations" in text
    encoded, _ = await _read(client, "mcptrace://probes/tracepoint%3Asched%3Asched_switch")
    assert encoded == text
    kprobe, _ = await _read(client, "mcptrace://probes/kprobe:vfs_read")
    assert "## Alternative" in kprobe and "tracepoint:syscalls:sys_enter_read" in kprobe


@requires_bpftrace
async def test_undocumented_host_probes_have_pages_too(client, services) -> None:  # type: ignore[no-untyped-def]
    from mcptrace_knowledge.knowledge import load_knowledge

    catalog = services.backend("bpftrace").catalog
    documented = load_knowledge().probes
    name = next(n for n in await catalog.names() if n.startswith("tracepoint:") and n not in documented)
    fields = await catalog.tracepoint_fields(name)
    text, _ = await _read(client, f"mcptrace://probes/{name}")
    assert "Not documented by mcptrace" in text and "exists here: yes" in text
    assert all(f"- `{field.decl}`" in text for field in fields)


async def test_an_unknown_probe_page_is_an_error_with_suggestions(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MCPError, match=r"did you mean tracepoint:sched:sched_switch"):
        await client.read_resource("mcptrace://probes/tracepoint:sched:sched_swich")
    with pytest.raises(
        MCPError, match=r"no resource 'mcptrace://nothing'.*templates: mcptrace://probes/\{name\}"
    ):
        await client.read_resource("mcptrace://nothing")


async def test_probe_index_lists_every_documented_probe(client) -> None:  # type: ignore[no-untyped-def]
    from mcptrace_knowledge.knowledge import load_knowledge

    text, _ = await _read(client, "mcptrace://probes")
    documented = load_knowledge().probes
    assert text.count("\n- `") == len(documented) and "`tracepoint:block:block_rq_issue`" in text


async def test_trace_prompt_walks_search_validate_run_analyze(client) -> None:  # type: ignore[no-untyped-def]
    prompt = await client.get_prompt("trace", {"goal": "why is disk I/O slow", "target": "postgres"})
    text = prompt.messages[0].content.text
    assert (
        prompt.messages[0].role == "user"
        and "GOAL: why is disk I/O slow" in text
        and "TARGET: postgres" in text
    )
    steps = [
        "bpf_info",
        "search_examples",
        "discover_probes",
        "validate_program",
        "exec_program",
        "get_result",
        "analyze_output",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "mcptrace://probes/{name}" in text and "mcptrace://guide/troubleshooting" in text
    with pytest.raises(MCPError, match="missing required argument.*goal"):
        await client.get_prompt("trace", {"target": "x"})
    with pytest.raises(MCPError, match="unknown prompt 'tracing'"):
        await client.get_prompt("tracing", {"goal": "x"})


@requires_bpftrace
def test_cli_probe_doc(tmp_path: Path) -> None:
    runner = CliRunner(env={"MCPTRACE_CONFIG": str(tmp_path / "absent.toml")})
    text = runner.invoke(cli, ["probes", "--doc", "tracepoint:block:block_rq_issue"])
    assert text.exit_code == 0 and text.stdout.startswith("# tracepoint:block:block_rq_issue")
    data = json.loads(
        runner.invoke(cli, ["probes", "--doc", "tracepoint:block:block_rq_issue", "--json"]).stdout
    )
    assert data["uri"] == "mcptrace://probes/tracepoint:block:block_rq_issue" and "## Fields" in data["text"]
    missing = runner.invoke(cli, ["probes", "--doc", "tracepoint:nope:nope", "--json"])
    assert missing.exit_code == 1 and "no probe" in json.loads(missing.stdout)["error"]


# -- the core surface: how plugins contribute resources and prompts --------------------------------


async def _text(services: object) -> ResourceContent:
    return ResourceContent("hello")


class SurfacePlugin:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    @hookimpl
    def mcptrace_tools(self) -> list[object]:
        return [
            ResourceSpec(self.uri, "r", "A test resource.", _text),
            PromptSpec("p", "A test prompt.", lambda arguments: []),
        ]


def test_the_registry_files_resources_and_prompts_and_rejects_duplicates(settings: Settings) -> None:
    pm = build_plugin_manager(
        load_entry_points=False,
        plugins=[("one", SurfacePlugin("test://a")), ("two", SurfacePlugin("test://a"))],
    )
    registry = build_registry(pm, settings)
    assert [spec.uri for spec in registry.resources] == ["test://a"] and [
        p.name for p in registry.prompts
    ] == ["p"]
    assert any("resource 'test://a' from plugin 'two' conflicts" in problem for problem in registry.problems)
    assert any("prompt 'p' from plugin 'two' conflicts" in problem for problem in registry.problems)


def test_resource_templates_match_and_decode() -> None:
    async def read(services: object, values: dict[str, str]) -> ResourceContent:
        return ResourceContent(str(values))

    template = ResourceTemplateSpec("x://probes/{name}/doc", "t", "A template.", read)
    assert template.match("x://probes/tracepoint%3Aa%3Ab/doc") == {"name": "tracepoint:a:b"}
    assert template.match("x://probes/a:b") is None and template.match("y://probes/a/doc") is None
    with pytest.raises(ValueError, match="placeholder"):
        ResourceTemplateSpec("x://fixed", "t", "No placeholder.", read)
    with pytest.raises(ValueError, match="scheme://path"):
        ResourceSpec("not a uri", "r", "Bad.", _text)
