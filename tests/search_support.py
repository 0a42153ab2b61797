"""A small example pack and plugins for the search tests, registered the way a third-party pack would be.

The examples are real, runnable bpftrace programs (except the kprobe ones, which this kernel cannot
attach: that is what they are here to show).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings, load_settings
from mcptrace_core.interfaces import Backend, ExamplePack, TemplatePack
from mcptrace_core.models import Example, HostCheck
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.search.capability import Capability
from mcptrace_core.services import Services

EXAMPLES = [
    Example(
        id="files.opens",
        title="Files opened, with failures",
        description="Print every file a process opens and whether the open failed, from the openat syscall tracepoints.",
        program=(
            "tracepoint:syscalls:sys_enter_openat { @name[tid] = args->filename; }\n"
            "tracepoint:syscalls:sys_exit_openat /@name[tid]/ {\n"
            '  printf("%-16s %4d %s\\n", comm, args->ret, str(@name[tid]));\n'
            "  delete(@name[tid]);\n"
            "}\n"
        ),
        probes=["tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_exit_openat"],
        tags=["files", "opensnoop"],
        category="filesystem",
        requires=["tracepoint"],
        output="events",
    ),
    Example(
        id="sched.switches",
        title="Context switches per process",
        description="Count how often each process is switched off a CPU, to find the busiest or most preempted ones.",
        program="t:sched:sched_switch { @switches[args->prev_comm] = count(); }\n",
        probes=["t:sched:sched_switch"],
        tags=["scheduler"],
        category="scheduler",
        requires=["tracepoint"],
        output="map",
    ),
    Example(
        id="vfs.read-bytes",
        title="Bytes returned by vfs_read",
        description="Histogram of the sizes the kernel's VFS read function returns, from a kernel return probe.",
        program="kretprobe:vfs_read { @bytes = hist(retval); }\n",
        probes=["kretprobe:vfs_read"],
        tags=["files"],
        category="filesystem",
        requires=["kprobe"],
        output="hist",
    ),
    Example(
        id="syscalls.read-bytes",
        title="Read sizes per process",
        description="Histogram of how many bytes read() returns, per process, from the read syscall exit tracepoint.",
        program="tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @bytes[comm] = hist(args->ret); }\n",
        probes=["tracepoint:syscalls:sys_exit_read"],
        tags=["files"],
        category="filesystem",
        requires=["tracepoint"],
        output="hist",
    ),
    Example(
        id="tcp.retransmits-k",
        title="TCP retransmissions",
        description=(
            "Print each retransmitted TCP segment with its process, from the kernel retransmit function. "
            "Needs kprobes; tcp.retransmit-counts counts the same from a tracepoint."
        ),
        program='kprobe:tcp_retransmit_skb { printf("%s retransmits\\n", comm); }\n',
        probes=["kprobe:tcp_retransmit_skb"],
        tags=["network", "tcp"],
        category="network",
        requires=["kprobe"],
        output="events",
    ),
    Example(
        id="tcp.retransmit-counts",
        title="TCP retransmissions per socket state",
        description="Count retransmitted TCP segments by the state of their socket, from the tcp tracepoint.",
        program="tracepoint:tcp:tcp_retransmit_skb { @retransmits[args->state] = count(); }\n",
        probes=["tracepoint:tcp:tcp_retransmit_skb"],
        tags=["network", "tcp"],
        category="network",
        requires=["tracepoint"],
        output="map",
    ),
    Example(
        id="bash.lines",
        title="Lines typed into bash",
        description="Print each command line users type into interactive bash shells, from bash's line editor.",
        program='uretprobe:/bin/bash:readline { printf("%d %s\\n", pid, str(retval)); }\n',
        probes=["uretprobe:/bin/bash:readline"],
        tags=["shell"],
        category="user",
        requires=["uprobe"],
        output="events",
    ),
    Example(
        id="libc.no-such-function",
        title="Calls of a function libc does not have",
        description="Count calls of a C library function that does not exist, to show a uprobe that cannot attach.",
        program="uprobe:libc:mcptrace_no_such_function { @ = count(); }\n",
        probes=["uprobe:libc:mcptrace_no_such_function"],
        tags=["test"],
        category="misc",
        requires=["uprobe"],
        output="map",
    ),
    Example(
        id="nowhere.events",
        title="Events of a subsystem this kernel lacks",
        description="Count events of an imaginary subsystem, to show how search reports probes that do not exist.",
        program="tracepoint:imaginary:thing_happened { @ = count(); }\n",
        probes=["tracepoint:imaginary:thing_happened"],
        tags=["test"],
        category="misc",
        requires=["tracepoint"],
        output="map",
    ),
]


class SearchTestPack(ExamplePack):
    name = "search-test"
    description = "Examples for the search tests."

    def __init__(self, examples: Iterable[Example] = EXAMPLES) -> None:
        self._examples = [example.model_copy(update={"pack": self.name}) for example in examples]

    def examples(self) -> list[Example]:
        return self._examples


class TemplatesWithCapabilities(TemplatePack):
    """A template pack that offers itself to search the way the template issue will."""

    name = "search-test-templates"
    description = "One template, to show that any provider's capabilities join the index."

    def templates(self) -> list[object]:
        return []

    def capabilities(self) -> list[Capability]:
        return [
            Capability(
                kind="template",
                id="syscall_latency",
                title="Latency of one system call",
                text="Histogram of how long a chosen system call takes, for any syscall name you give.",
                source=self.name,
                identifiers=("syscall_latency",),
                probes=("tracepoint:syscalls:sys_enter_*", "tracepoint:syscalls:sys_exit_*"),
                requires=("tracepoint",),
                usage="generate_from_template(template_name='syscall_latency', parameters={'syscall': 'read'})",
            )
        ]


class BccLikeBackend(Backend):
    """A backend that offers the tools it discovered to search, as the BCC backend will."""

    name = "search-test-bcc"
    description = "Two BCC-style tools, one of which failed its trial run here."

    async def doctor(self) -> list[HostCheck]:
        return []

    def capabilities(self) -> list[Capability]:
        return [
            Capability(
                kind="bcc_tool",
                id="filetop",
                title="Top files by reads and writes",
                text="Refreshing table of the files read and written most, with the processes doing it.",
                source=self.name,
                identifiers=("filetop",),
                requires=("tracepoint",),
                usage="exec_bcc_tool(tool_name='filetop')",
            ),
            Capability(
                kind="bcc_tool",
                id="biotop",
                title="Top processes by disk I/O",
                text="Refreshing table of the processes doing the most block device I/O.",
                source=self.name,
                identifiers=("biotop",),
                missing=("its trial run failed here: it needs kprobes",),
                usage="exec_bcc_tool(tool_name='biotop')",
            ),
        ]


class PackPlugin:
    def __init__(self, *packs: ExamplePack) -> None:
        self.packs = list(packs) or [SearchTestPack()]

    @hookimpl
    def mcptrace_example_packs(self) -> list[ExamplePack]:
        return self.packs

    @hookimpl
    def mcptrace_template_packs(self) -> list[TemplatePack]:
        return [TemplatesWithCapabilities()]

    @hookimpl
    def mcptrace_backends(self) -> list[Backend]:
        return [BccLikeBackend()]


CONTENT_HOOKS = {"mcptrace_example_packs", "mcptrace_template_packs"}
CATALOG_PLUGINS = {"bcc"}
"""Plugins whose capabilities come from what this host's catalog cache holds (other tests fill it):
BccLikeBackend stands in for them, so rankings do not move with the order tests run in."""


def make_services(*extra: tuple[str, object], settings: Settings | None = None) -> Services:
    """Services as `mcptrace serve` loads them, but with the test pack (and ``extra``) in place of the
    installed example and template packs and the BCC backend, so that rankings do not move when a pack
    is installed or the BCC catalog was learned."""
    settings = settings or load_settings(Path("/nonexistent/mcptrace.toml"))
    installed = build_plugin_manager(settings.plugins.disable).records
    content = [
        record.name for record in installed
        if CONTENT_HOOKS.intersection(record.hooks) or record.name in CATALOG_PLUGINS
    ]
    pack = [] if any(name == "search-test" for name, _ in extra) else [("search-test", PackPlugin())]
    pm = build_plugin_manager([*settings.plugins.disable, *content], plugins=[*pack, *extra])
    return Services.create(settings, pm)
