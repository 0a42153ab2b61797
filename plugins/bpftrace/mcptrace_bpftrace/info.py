"""list_helpers: what this bpftrace build and kernel report (``bpftrace --info``), as data.

MCPtrace users know this tool by that name. It lists the kernel helpers, map types, kernel features and
probe types bpftrace itself reports. bpftrace's own word about probe types can be wrong (it says
"kprobe: yes" on kernels without kprobes), so each probe type also carries what bpf_info measured.
"""

from __future__ import annotations

import asyncio
import re

from pydantic import Field

from mcptrace_core.models import Model
from mcptrace_core.privilege import PrivilegeError
from mcptrace_core.runs.process import kill_group, spawn
from mcptrace_core.textsafety import clean_line
from mcptrace_core.tools import ToolCall, ToolError, ToolInput, ToolOutput, ToolSpec

from mcptrace_bpftrace.backend import LISTING_BOUNDS
from mcptrace_bpftrace.executable import BpftraceMissing
from mcptrace_bpftrace.guard import backend_of

INFO_TIMEOUT_S = 30.0
MAX_INFO_BYTES = 256 * 1024
_CELL_GAP = re.compile(r"\s{2,}")
"""bpftrace 0.23 prints two facts per line in columns; 0.17 prints one."""


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """``bpftrace --info`` as {section: {fact: value}}; a section is a line at the left margin."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines()[:500]:
        line = clean_line(raw, 500).rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip().rstrip(":"), {})
            continue
        if current is None:
            continue
        for cell in _CELL_GAP.split(line.strip()):
            key, separator, value = cell.rpartition(": ")
            if separator and key:
                current[key.strip()] = value.strip()
    return sections


async def _info_text(command: list[str]) -> str:
    """What ``bpftrace --info`` prints: on stderr up to 0.17, on stdout later, so both are read."""
    process = await spawn([*command, "--info"], {}, LISTING_BOUNDS)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), INFO_TIMEOUT_S)
    except TimeoutError:
        raise ToolError(f"bpftrace --info did not finish in {INFO_TIMEOUT_S:g} s") from None
    finally:
        kill_group(process.pid)  # also when cancelled: nothing of it outlives the call
    return (stdout + stderr)[:MAX_INFO_BYTES].decode("utf-8", "replace")


def _flags(facts: dict[str, str]) -> dict[str, bool]:
    return {name: value == "yes" for name, value in facts.items() if value in ("yes", "no")}


class ListHelpersInput(ToolInput):
    pass


class ReportedProbeType(Model):
    reported: bool = Field(description="What `bpftrace --info` says.")
    measured_usable: bool | None = Field(description="What a trial run found here (bpf_info); null when not tried.")


class HelpersReport(ToolOutput):
    bpftrace_version: str
    helpers: dict[str, bool] = Field(description="Kernel BPF helpers bpftrace can use here.")
    map_types: dict[str, bool] = Field(description="BPF map types the kernel supports.")
    probe_types: dict[str, ReportedProbeType] = Field(description="Probe types bpftrace reports, with what was measured.")
    features: dict[str, str] = Field(description="Kernel features (instruction limit, BTF, loops, ...).")
    build: dict[str, str] = Field(description="How this bpftrace was built (version, LLVM, DWARF support).")

    def to_text(self) -> str:
        def names(flags: dict[str, bool], wanted: bool) -> str:
            return ", ".join(name for name, value in flags.items() if value is wanted) or "-"

        probe_lines = [
            f"  {name}: reported {'yes' if info.reported else 'no'}"
            + ("" if info.measured_usable is None else f", measured {'usable' if info.measured_usable else 'NOT usable'}")
            for name, info in self.probe_types.items()
        ]
        return "\n".join([
            f"bpftrace {self.bpftrace_version}",
            f"helpers available: {names(self.helpers, True)}",
            f"helpers missing: {names(self.helpers, False)}",
            f"map types: {names(self.map_types, True)} (missing: {names(self.map_types, False)})",
            "features: " + ", ".join(f"{key}={value}" for key, value in self.features.items()),
            "probe types:", *probe_lines,
        ])


async def list_helpers(call: ToolCall, args: ListHelpersInput) -> HelpersReport:
    backend = backend_of(call)
    try:
        sections = parse_info(await _info_text(backend.command()))
        measured = await backend.probe_types()
    except (BpftraceMissing, PrivilegeError) as error:
        raise ToolError(str(error)) from None
    if "Kernel helpers" not in sections:
        raise ToolError("bpftrace --info reported no kernel helpers (see bpf_info for what works here)")
    return HelpersReport(
        bpftrace_version=sections.get("Build", {}).get("version", "unknown"),
        helpers=_flags(sections.get("Kernel helpers", {})),
        map_types=_flags(sections.get("Map types", {})),
        probe_types={
            name: ReportedProbeType(
                reported=reported, measured_usable=measured[name].usable if name in measured else None,
            )
            for name, reported in _flags(sections.get("Probe types", {})).items()
        },
        features=sections.get("Kernel features", {}),
        build=sections.get("Build", {}),
    )


def list_helpers_tool() -> ToolSpec:
    return ToolSpec(
        name="list_helpers",
        title="bpftrace helpers, map types and probe types",
        description=(
            "What `bpftrace --info` reports on this host: the kernel BPF helpers bpftrace can use, the map types, "
            "kernel features (instruction limit, BTF) and probe types, each probe type with whether it was "
            "measured to attach here (bpftrace's own word can be wrong: see bpf_info)."
        ),
        input_model=ListHelpersInput,
        output_model=HelpersReport,
        handler=list_helpers,
    )
