"""The BCC backend: the catalog of installed tools, the checks `mcptrace doctor` shows, and runs."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from mcptrace_bcc import probe
from mcptrace_bcc.arguments import Invocation
from mcptrace_bcc.capabilities import tool_capabilities
from mcptrace_bcc.catalog import NEVER_TRIED, BccCatalog, BccTool, Progress
from mcptrace_bcc.discovery import kernel_headers_present
from mcptrace_bcc.output import BccOutputDecoder
from mcptrace_bcc.reasons import diagnose
from mcptrace_core.config import Settings
from mcptrace_core.interfaces import Analyzer, Backend
from mcptrace_core.models import HostCheck, TraceError
from mcptrace_core.privilege import PrivilegedCommands, PrivilegeError, command_prefix, setup_fix
from mcptrace_core.runs.models import RunSpec
from mcptrace_core.search.capability import Capability
from mcptrace_core.textsafety import clean_line

BTF_VMLINUX = Path("/sys/kernel/btf/vmlinux")
SELF_END_MARGIN_S = {"libbpf": 5.0, "bcc-python": 30.0}
"""Past the time a tool was told to end by itself, how long before it is stopped anyway: loading
takes a libbpf tool well under a second, a Python tool's compile several seconds."""
GRACE_S = 5.0
_NOISE = ("couldn't set RLIMIT_MEMLOCK", "sh: 1: modprobe: not found")


class BccBackend(Backend):
    name: ClassVar[str] = "bcc"
    description: ClassVar[str] = (
        "Runs the BCC tools installed here (libbpf-tools and the Python bpfcc-tools) with checked arguments."
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = self._new_catalog()

    def _new_catalog(self) -> BccCatalog:
        return BccCatalog(self.settings.bcc, lambda: command_prefix(self.settings.privilege))

    def privileged_commands(self) -> PrivilegedCommands:
        """Every installed tool but those that change the host (NEVER_TRIED), as a real run starts it:
        a compiled tool behind stdbuf -oL (its output line by line), a script with PYTHONUNBUFFERED."""
        stdbuf = shutil.which("stdbuf")
        commands = []
        for file in sorted(self.catalog.files().values(), key=lambda f: f.path):
            if file.base_name in NEVER_TRIED:
                continue
            commands.append([file.path])
            if not file.script and stdbuf:
                commands.append([str(Path(stdbuf).resolve()), "-oL", file.path])
        return PrivilegedCommands(commands=commands, environment=["PYTHONUNBUFFERED"])

    def capabilities(self) -> list[Capability]:
        """The tools the catalog caches know, for the search index; runs nothing (see capabilities)."""
        return tool_capabilities(self._new_catalog().cached(usable_only=False))

    async def prepare_capabilities(self, progress: Progress | None = None) -> None:
        """Learn every installed tool (once per boot: ~20 s the first time), so the index has them all."""
        await self.catalog.all(progress)

    def run_spec(self, tool: BccTool, invocation: Invocation, timeout_s: float, analyzer: Analyzer | None) -> RunSpec:
        """How the run manager starts ``tool``; its own end (duration) comes first, the timeout after.

        :param analyzer: the output analyzer of kind 'bcc' (None when none is loaded: lines only).
        """
        if invocation.ends_after_s is not None:
            timeout_s = invocation.ends_after_s + SELF_END_MARGIN_S[tool.file.kind]
        structure: dict[str, Any] = {}  # without an analyzer that streams, the output is lines only
        stream = analyzer.stream() if analyzer is not None else None
        if analyzer is not None and stream is not None:
            decoder = BccOutputDecoder(analyzer, stream)
            structure = {"decoder": decoder, "page_tables": decoder.page_tables}
        return RunSpec(
            argv=probe.command_line(tool.file, invocation.argv, command_prefix(self.settings.privilege)),
            backend=self.name,
            label=" ".join([tool.name, *invocation.argv])[:120],
            timeout_s=timeout_s,
            stderr_filter=lambda line: not any(noise in line for noise in _NOISE),
            grace_s=lambda probes: GRACE_S,
            explain=lambda stderr, exit_code: explain(tool, stderr, exit_code),
            **structure,
        )

    async def doctor(self) -> list[HostCheck]:
        files = self.catalog.files().values()
        libbpf = [f for f in files if f.kind == "libbpf"]
        python = [f for f in files if f.kind == "bcc-python"]
        checks = [
            HostCheck(name="libbpf-tools installed", ok=bool(libbpf), detail=f"{len(libbpf)} CO-RE tools",
                      fix=None if libbpf else "apt-get install -y libbpf-tools"),
            HostCheck(name="bpfcc-tools installed", ok=bool(python), detail=f"{len(python)} Python BCC tools",
                      fix=None if python else "apt-get install -y bpfcc-tools (optional: they need kernel headers)"),
            HostCheck(name="kernel BTF", ok=BTF_VMLINUX.exists(), detail="the libbpf tools need it (CO-RE)",
                      fix=None if BTF_VMLINUX.exists() else "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
            _headers_check(),
            HostCheck(name="stdbuf available", ok=shutil.which("stdbuf") is not None,
                      detail="makes the libbpf tools' output arrive line by line",
                      fix=None if shutil.which("stdbuf") else "apt-get install -y coreutils"),
        ]
        try:
            command_prefix(self.settings.privilege)
        except PrivilegeError as error:  # nothing can be tried: say so rather than list every tool as failed
            checks.append(HostCheck(name="privilege", ok=False, detail=str(error).split(":")[0], fix=setup_fix()))
            return checks
        tools = await self.catalog.all()
        for kind, found in (("libbpf", libbpf), ("bcc-python", python)):
            if not found:
                continue
            usable = [t for t in tools if t.file.kind == kind and t.usability.usable]
            blockers: dict[str, int] = {}
            for tool in tools:
                if tool.file.kind == kind and tool.usability.usable is False:
                    blockers[tool.usability.needs or "unknown"] = blockers.get(tool.usability.needs or "unknown", 0) + 1
            why = ", ".join(f"{count} need {need}" for need, count in sorted(blockers.items(), key=lambda i: -i[1]))
            checks.append(HostCheck(
                name=f"{kind} tools usable here", ok=bool(usable),
                detail=f"{len(usable)} of {len(found)} attach here (tried once per boot)" + (f"; {why}" if why else ""),
                fix=None if usable else "see list_bcc_tools (or `mcptrace bcc list --all`) for each tool's reason",
            ))
        return checks


def _headers_check() -> HostCheck:
    release = platform.release()
    found = kernel_headers_present()
    return HostCheck(
        name="kernel headers", ok=found,
        detail=f"/lib/modules/{release}/build or /sys/kernel/kheaders.tar.xz: Python BCC tools compile with them",
        fix=None if found else f"apt-get install -y linux-headers-{release} (or modprobe kheaders)",
    )


def explain(tool: BccTool, stderr: Sequence[str], exit_code: int | None) -> list[TraceError]:
    """A failed run's error: the tool's last words, and what they mean when they match a known cause."""
    if exit_code in (None, 0) or exit_code < 0:
        return []
    lines = [line.strip() for line in stderr if line.strip()]
    message = clean_line(lines[-1] if lines else f"{tool.name} exited with status {exit_code}", 500)
    cause = diagnose(lines)
    if cause is None:
        return [TraceError(category="attach", message=message)]
    category = "input" if cause.needs == "arguments" else "unsupported_feature"
    hint = cause.reason + (f"; fix: {cause.fix}" if cause.fix else "")
    return [TraceError(category=category, message=message, hint=hint)]
