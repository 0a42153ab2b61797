"""The probe catalog discovery reads: tracepoint fields from tracefs, uprobe symbols, and the fallbacks."""

from __future__ import annotations

import pytest

from mcptrace_bpftrace.host import libc_path, tracefs_root
from mcptrace_bpftrace.probes import ProbeCatalog, parse_verbose_listing
from mcptrace_bpftrace.tracefs import TracefsReader, TracefsUnavailable, parse_format
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

SCHED_SWITCH_FORMAT = """name: sched_switch
ID: 372
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] name;\toffset:28;\tsize:4;\tsigned:0;
\tfield:const void * skbaddr;\toffset:32;\tsize:8;\tsigned:0;

print fmt: "prev_comm=%s", REC->prev_comm
"""


def test_format_files_parse_into_named_fields_without_the_common_ones() -> None:
    fields = parse_format(SCHED_SWITCH_FORMAT)
    assert [(f.name, f.decl) for f in fields] == [
        ("prev_comm", "char prev_comm[16]"),
        ("prev_pid", "pid_t prev_pid"),
        ("name", "__data_loc char[] name"),
        ("skbaddr", "const void * skbaddr"),
    ]


def test_a_missing_tracefs_is_reported_so_callers_can_fall_back() -> None:
    with pytest.raises(TracefsUnavailable, match="not mounted"):
        TracefsReader(lambda: None).fields("sched:sched_switch")


@requires_bpftrace
async def test_format_files_give_exactly_what_bpftrace_lists(services) -> None:  # type: ignore[no-untyped-def]
    """The measured fact behind reading tracefs instead of running `bpftrace -lv 'tracepoint:*'`."""
    backend = services.backend("bpftrace")
    listed = parse_verbose_listing(await backend.list_probes_raw(["-lv", "tracepoint:*"]))
    reader = TracefsReader(tracefs_root)
    assert len(listed) > 500
    for name, args in listed.items():
        fields = reader.fields(name)
        assert fields is not None and tuple(f.decl for f in fields) == args, name
    assert reader.fields("tracepoint:sched:no_such_event") is None


@requires_bpftrace
async def test_catalog_fields_fall_back_to_bpftrace_without_tracefs(services) -> None:  # type: ignore[no-untyped-def]
    backend = services.backend("bpftrace")
    without_tracefs = ProbeCatalog(backend.list_probes_raw, TracefsReader(lambda: None))
    with_tracefs = backend.catalog
    name = "tracepoint:sched:sched_process_exec"
    assert await without_tracefs.tracepoint_fields(name) == await with_tracefs.tracepoint_fields(name)
    assert [f.name for f in await with_tracefs.tracepoint_fields(name)] == ["filename", "pid", "old_pid"]
    assert await without_tracefs.tracepoint_fields("tracepoint:sched:nope") is None


@requires_bpftrace
async def test_binary_functions_by_library_name_and_by_path(services) -> None:  # type: ignore[no-untyped-def]
    catalog = services.backend("bpftrace").catalog
    by_name = await catalog.binary_functions("libc")
    assert {"malloc", "free", "getaddrinfo"} <= by_name
    path = libc_path()
    if path:
        assert "malloc" in await catalog.binary_functions(path)
    assert await catalog.binary_functions("/nonexistent/binary") == frozenset()


@requires_bpftrace
async def test_list_probes_arguments_come_from_format_files(client) -> None:  # type: ignore[no-untyped-def]
    result = await client.call_tool(
        "list_probes", {"filter": "tracepoint:sched:sched_switch", "with_args": True}
    )
    assert not result.is_error
    probe = result.structured_content["probes"][0]
    assert probe["args"][:2] == ["char prev_comm[16]", "pid_t prev_pid"]


@requires_bpftrace
async def test_function_listings_are_kept_on_disk_while_the_binary_is_the_same_file(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A new server does not list a uprobe target again; a replaced binary is listed afresh."""
    from mcptrace_bpftrace.probes import FunctionListings

    backend = services.backend("bpftrace")
    listed: list[list[str]] = []

    async def counting_lister(arguments: list[str]) -> str:
        listed.append(arguments)
        return await backend.list_probes_raw(arguments)

    def catalog() -> ProbeCatalog:  # one per "server": nothing shared but the directory
        return ProbeCatalog(counting_lister, TracefsReader(tracefs_root), FunctionListings(tmp_path, lambda: "bpftrace"))

    binary = tmp_path / "traced"
    binary.write_bytes(open("/bin/bash", "rb").read())
    binary.chmod(0o755)
    first = await catalog().binary_functions(str(binary))
    assert first and len(listed) == 1
    assert await catalog().binary_functions(str(binary)) == first
    assert len(listed) == 1, "the second server listed the same binary again"

    assert "readline" in first
    binary.write_bytes(open(libc_path() or "/lib/x86_64-linux-gnu/libc.so.6", "rb").read())  # replaced
    replaced = await catalog().binary_functions(str(binary))
    assert len(listed) == 2 and "malloc" in replaced and "readline" not in replaced
    assert await catalog().binary_functions("/nonexistent/binary") == frozenset()
    assert len(listed) == 3 and len(list(tmp_path.glob("*.json"))) == 1  # nothing kept for a missing target
