"""The knowledge served as MCP resources: probe documentation, the guides and the host's capabilities.

Probe pages are made when read, so the fields shown are this host's and "exists here" is current.
"""

from __future__ import annotations

import difflib
import json
from importlib.resources import files
from typing import Any

from mcptrace_core.resources import ResourceContent, ResourceNotFound, ResourceSpec, ResourceTemplateSpec
from mcptrace_core.tools import ToolError, invoke

from mcptrace_knowledge.discover import DiscoveryEngine
from mcptrace_knowledge.docs import ProbeDoc, probe_type

PROBES = "mcptrace://probes"
TROUBLESHOOTING = "mcptrace://guide/troubleshooting"
FEATURE_MATRIX = "mcptrace://guide/feature-matrix"
CAPABILITIES = "mcptrace://host/capabilities"


def resource_specs(engine: DiscoveryEngine) -> list[Any]:
    async def probe_index(services: Any) -> ResourceContent:
        await engine.load_knowledge()
        return ResourceContent(index_page(engine))

    async def probe_page(services: Any, values: dict[str, str]) -> ResourceContent:
        await engine.prepare_host(services)
        return ResourceContent(await probe_markdown(engine, values["name"]))

    async def troubleshooting(services: Any) -> ResourceContent:
        return ResourceContent(
            files(__package__).joinpath("guides/troubleshooting.md").read_text(encoding="utf-8")
        )

    async def feature_matrix(services: Any) -> ResourceContent:
        from mcptrace_knowledge import features

        return ResourceContent(features.render(features.load_features(), await features.host_facts(services)))

    async def capabilities(services: Any) -> ResourceContent:
        spec = services.registry.get("tool", "bpf_info")
        if spec is None:
            raise ToolError(
                "the host capability report comes from bpf_info, whose plugin (bpftrace) is not loaded"
            )
        report = await invoke(services, spec, {})
        return ResourceContent(
            json.dumps(report.model_dump(mode="json"), indent=2), mime_type="application/json"
        )

    return [
        ResourceSpec(
            PROBES,
            "probe-index",
            "Every probe mcptrace documents, by subsystem, one line each.",
            probe_index,
            title="Probe documentation index",
        ),
        ResourceTemplateSpec(
            f"{PROBES}/{{name}}",
            "probe-doc",
            "Documentation of one probe (e.g. mcptrace://probes/tracepoint:sched:sched_switch): what fires "
            "it, its fields on this host, typical questions, companions, alternatives, whether it works here.",
            probe_page,
            title="Probe documentation",
        ),
        ResourceSpec(
            TROUBLESHOOTING,
            "troubleshooting",
            "Every error category of validate_program and exec_program: what it means, causes and fixes.",
            troubleshooting,
            title="Troubleshooting guide",
        ),
        ResourceSpec(
            FEATURE_MATRIX,
            "feature-matrix",
            "Probe types and features versus the kernel version, config and bpftrace version they need, "
            "with what this host has.",
            feature_matrix,
            title="Feature matrix",
        ),
        ResourceSpec(
            CAPABILITIES,
            "host-capabilities",
            "This host's tracing capabilities as bpf_info measures them (JSON): bpftrace, kernel, BTF, "
            "tracefs, privilege, usable probe types and fixes.",
            capabilities,
            title="Host capability report",
            mime_type="application/json",
        ),
    ]


def index_page(engine: DiscoveryEngine) -> str:
    kb = engine.knowledge
    lines = [
        f"# Probes documented by mcptrace ({len(kb.probes)})",
        "",
        f"Read one with {PROBES}/{{name}}; find probes for a goal with the discover_probes tool.",
        "",
    ]
    by_subsystem: dict[str, list[ProbeDoc]] = {}
    for doc in kb.ordered:
        by_subsystem.setdefault(doc.subsystem, []).append(doc)
    for key, docs in by_subsystem.items():
        lines += [f"## {kb.subsystems[key].title}", ""]
        lines += [f"- `{doc.name}`: {_first_sentence(doc.fires)}" for doc in docs]
        lines.append("")
    return "\n".join(lines)


async def probe_markdown(engine: DiscoveryEngine, name: str) -> str:
    """The page of a documented probe, or of a probe this host lists; ResourceNotFound otherwise."""
    kb, host = engine.knowledge, engine.host
    doc = kb.probes.get(name)
    exists = await host.exists(name) if host else None
    if doc is None and not exists:
        known = list(dict.fromkeys([*kb.probes, *(host.names if host else [])]))
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else "; list_probes and discover_probes find real names"
        )
        raise ResourceNotFound(f"no probe {name!r} is documented or present on this host{hint}")
    lines = [f"# {name}", ""]
    usable = host.type_usable(name) and exists is not False if host and host.known else None
    lines.append(f"type: {probe_type(name)}; exists here: {_tell(exists)}; usable here: {_tell(usable)}")
    if doc is not None:
        lines += [f"subsystem: {kb.subsystems[doc.subsystem].title}", "", "## What fires it", "", doc.fires]
    else:
        lines += ["", "Not documented by mcptrace; the fields below are this host's."]
    declared = await host.fields(name) if host else None
    field_lines = _field_lines(doc, declared)
    if field_lines:
        lines += ["", "## Fields" if probe_type(name) == "tracepoint" else "## Arguments", "", *field_lines]
    if doc is not None:
        lines += ["", "## Questions it answers", "", *[f"- {question}" for question in doc.questions]]
        if doc.companions:
            lines += ["", "## Companions", "", *[f"- `{companion}`" for companion in doc.companions]]
        if doc.alternative:
            lines += [
                "",
                "## Alternative",
                "",
                f"Where {probe_type(name)} probes do not work: `{doc.alternative}`.",
            ]
        combinations = kb.combinations_with(name)
        if combinations:
            lines += [
                "",
                "## Combinations",
                "",
                *[f"- {' + '.join(f'`{p}`' for p in c.probes)}: {c.purpose}" for c in combinations],
            ]
        if doc.notes:
            lines += ["", "## Notes", "", doc.notes]
    return "\n".join(lines) + "\n"


def _field_lines(doc: ProbeDoc | None, declared: dict[str, str] | None) -> list[str]:
    if doc is not None and doc.args:
        return [f"- {arg}" for arg in doc.args]
    useful = set(doc.fields) if doc else set()
    if declared is not None:
        return [f"- `{decl}`" + (" (useful)" if field in useful else "") for field, decl in declared.items()]
    return [f"- `{field}`" for field in (doc.fields if doc else ())]


def _tell(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
