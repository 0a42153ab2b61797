"""The core templates against the real bpftrace: every one rendered with its defaults and boundary values,
each rendering checked with ``bpftrace -d``, the ones runnable here run for a second through exec_program,
and a few driven with real events to see that they answer their question."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from mcptrace_core.templates.engine import render
from mcptrace_core.templates.host_values import cgroup2_mounts
from mcptrace_core.templates.kinds import KINDS, PID_MAX
from mcptrace_core.templates.literals import format_time_ns
from mcptrace_core.templates.model import AGGREGATE_OUTPUTS, Template
from mcptrace_core.tools import ToolCall, ToolError, invoke
from mcptrace_templates.pack import CoreTemplates
from mcptrace_bpftrace.guard import check
from tests.conftest import requires_bpftrace

pytestmark = pytest.mark.anyio

TEMPLATES: dict[str, Template] = {template.name: template for template in CoreTemplates().templates()}
ODD_COMMS = ['"); system("id', "back\\slash", "é✓ü", "two words", "x" * 15, "{}/*"]
COMMON = {"pid", "comm", "cgroup", "output", "interval_s", "top", "duration_s"}
QUESTIONS = [  # the list; each must be answered by at least one template
    "syscall", "latency", "uprobe", "kprobe", "profile", "offcpu", "runqueue", "block", "open", "exec", "tcp",
    "retransmit", "bytes", "page fault", "oom", "signal", "slow", "packets",
]


def test_the_core_pack_loads_cleanly_with_at_least_25_templates() -> None:
    pack = CoreTemplates()
    assert pack.problems() == []
    assert len(TEMPLATES) >= 25
    words = " ".join(f"{t.name} {t.title} {' '.join(t.tags)}".lower().replace("_", " ") for t in TEMPLATES.values())
    assert [question for question in QUESTIONS if question not in words] == []


def test_templates_are_written_for_people() -> None:
    for template in TEMPLATES.values():
        assert len(template.description) > 150, template.name
        assert template.requires, template.name
        for name, spec in template.all_parameters().items():
            assert spec.description.endswith("."), (template.name, name)


def bounds(template: Template) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every bounded parameter of the template's own at its lowest and at its highest value."""
    low, high = {}, {}
    for name, spec in template.parameters.items():
        kind = KINDS[spec.kind]
        if spec.kind in ("int", "pid", "duration", "interval"):
            low[name], high[name] = kind.bounds(spec)  # type: ignore[attr-defined]
        elif spec.kind == "threshold":
            low[name], high[name] = (format_time_ns(ns) for ns in kind.limits_ns(spec))  # type: ignore[attr-defined]
        elif spec.kind == "signal":
            low[name], high[name] = 1, 64
        elif spec.kind == "net_device":
            high[name] = "lo"
        elif spec.kind == "block_device" and os.listdir("/sys/class/block"):
            high[name] = sorted(os.listdir("/sys/class/block"))[0]
    return low, high


def variations(template: Template, offset: int = 0) -> Iterator[dict[str, Any]]:
    """The defaults, then a covering set: each enum choice, bool value, output, bound and odd filter appears.

    Variation i takes choice i of every enum (cyclically), the low bounds when i is even and the high ones
    when odd, output i, the filters with odd command names, and the time-series options at their bounds.
    """
    base = template.example_parameters()
    yield base
    low, high = bounds(template)
    axes = [len(spec.choices or ()) for spec in template.parameters.values() if spec.kind == "enum"]
    mount = next(iter(cgroup2_mounts()), None)
    for i in range(max([2, len(template.outputs), *axes])):
        parameters = {**base, **(low if i % 2 == 0 else high), "duration_s": (1, 86_400)[i % 2]}
        for name, spec in template.parameters.items():
            if spec.kind == "enum":
                parameters[name] = (spec.choices or [])[i % len(spec.choices or [])]
            elif spec.kind == "bool":
                parameters[name] = (i % 2 == 0) != bool(spec.default)
        output = template.outputs[i % len(template.outputs)]
        if len(template.outputs) > 1:
            parameters["output"] = output
        if output in AGGREGATE_OUTPUTS:
            parameters.update(interval_s=(1, 3600)[i % 2], top=(1, 10_000)[i % 2])
        filters = {"pid": (1, PID_MAX)[i % 2], "comm": ODD_COMMS[(i + offset) % len(ODD_COMMS)], "cgroup": mount}
        parameters.update({name: filters[name] for name in template.filters if filters[name] is not None})
        yield parameters


def programs(template: Template) -> dict[str, dict[str, Any]]:
    """Each distinct program of the variations, with the parameters that made it."""
    found: dict[str, dict[str, Any]] = {}
    for parameters in variations(template, offset=sorted(TEMPLATES).index(template.name)):
        found.setdefault(render(template, parameters).program, parameters)
    return found


def test_the_variations_cover_every_choice_output_and_odd_command_name() -> None:
    seen: dict[str, set[Any]] = {"comm": set()}
    for template in TEMPLATES.values():
        chosen = list(programs(template).values())
        seen["comm"] |= {parameters.get("comm") for parameters in chosen}
        for name, spec in template.parameters.items():
            if spec.kind in ("enum", "bool"):
                values = {parameters.get(name, spec.default) for parameters in chosen}
                assert values == set(spec.choices or (True, False)), (template.name, name, values)
        if len(template.outputs) > 1:
            assert {parameters.get("output") for parameters in chosen} >= set(template.outputs), template.name
    assert set(ODD_COMMS) <= seen["comm"]


def _without_literals(program: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', program)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_renders_at_defaults_and_bounds_and_caller_text_stays_in_literals(name: str) -> None:
    template = TEMPLATES[name]
    found = programs(template)
    assert len(found) >= 3, f"{name}: its parameters change nothing?"
    for program, parameters in found.items():
        code = _without_literals(program)
        assert "system(" not in code, parameters
        assert [odd for odd in ODD_COMMS if odd in code and not odd.isalnum()] == [], parameters
        rendered = render(template, parameters)
        assert render(template, rendered.parameters).program == program  # parameters come back as they went
        assert rendered.probes and all(":" in probe or probe in ("BEGIN", "END") for probe in rendered.probes)


@requires_bpftrace
@pytest.mark.parametrize("name", sorted(TEMPLATES))
async def test_every_rendering_validates_here_or_lacks_only_a_probe_type(name: str, services) -> None:  # type: ignore[no-untyped-def]
    """validate_program's verdict on every rendering: valid, or (kprobes on a kernel without them) compiled
    by bpftrace with only the unusable probe type as the error."""
    call = ToolCall(services, "test")
    limit = asyncio.Semaphore(4)

    async def validated(program: str) -> tuple[str, Any]:
        async with limit:
            return program, (await check(call, program, None, None)).report

    found = programs(TEMPLATES[name])
    results = await asyncio.gather(*(validated(program) for program in found))
    def acceptable(validation: Any) -> bool:
        if validation.valid:
            return True
        compiled = any(layer.layer == "compile" and layer.state == "passed" for layer in validation.layers)
        return compiled and all(error.category == "unsupported_feature" for error in validation.errors)

    failures = [(found[program], report.errors) for program, report in results if not acceptable(report)]
    assert failures == []


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    """The permissive level, where the assistant's confirm counts: the templates that say they require
    confirmation (exec_trace copies arguments, slow_syscalls prints from every syscall) run with confirm=True,
    as a user who approved them would run them. Every other template needs no confirmation at all."""
    from mcptrace_core.config import load_settings

    loaded = load_settings(tmp_path / "absent.toml")
    return loaded.model_copy(update={"safety": loaded.safety.model_copy(update={"level": "permissive"})})


def _confirmed(template: Template) -> dict[str, Any]:
    return {"confirm": True} if "requires confirmation" in template.description.lower() else {}


def _batches(size: int) -> list[list[str]]:
    names = sorted(TEMPLATES)
    return [names[start:start + size] for start in range(0, len(names), size)]


@requires_bpftrace
@pytest.mark.parametrize("batch", _batches(4), ids=lambda batch: "+".join(batch))
async def test_runs_for_one_second_through_exec_program(batch: list[str], services) -> None:  # type: ignore[no-untyped-def]
    """Through the same tool as any program (limits and policy apply); those this host cannot run fail clearly."""
    backend = services.backend("bpftrace")
    usable = {name for name, status in (await backend.probe_types()).items() if status.usable} | {"btf"}
    exec_program = services.registry.get("tool", "exec_program")

    async def run(name: str) -> tuple[str, Any]:
        template = TEMPLATES[name]
        # duration_s ends the program one second after its probes are attached, however long compiling
        # takes on a loaded machine; the run's timeout is only the safety net.
        program = render(template, {**template.example_parameters(), "duration_s": 1}).program
        try:
            return name, await invoke(services, exec_program, {"program": program, "timeout_s": 30, "wait": True,
                                                               **_confirmed(template)})
        except ToolError as refused:
            return name, refused

    for name, result in await asyncio.gather(*(run(name) for name in batch)):
        runnable = set(TEMPLATES[name].requires) <= usable
        if runnable:
            assert not isinstance(result, ToolError), (name, str(result))
            assert result.status == "completed" and not result.errors, (name, result.errors, result.stderr)
            assert result.attached_probes, name
        else:  # refused by validation before any run, with the reason and a working alternative
            assert isinstance(result, ToolError), name
            assert "[unsupported_feature]" in str(result) and "try: tracepoint:" in str(result), str(result)


# -- templates answering their question with real events ------------------------------------------


async def _start(services: Any, template: str, parameters: dict[str, Any]) -> Any:
    """Start the template through exec_program; return once its probes are attached."""
    program = render(TEMPLATES[template], parameters).program
    started = await invoke(services, services.registry.get("tool", "exec_program"),
                           {"program": program, "timeout_s": 30, **_confirmed(TEMPLATES[template])})
    run = services.runs.get(started.execution_id)
    for _ in range(200):
        if run.attached_probes or run.status.finished:
            break
        await asyncio.sleep(0.05)
    assert run.attached_probes, (run.status, run.errors)
    await asyncio.sleep(0.5)  # bpftrace announces the probes just before attaching them
    return run


async def _until_seen(run: Any, trigger: Any, marker: str) -> None:
    """Make the event happen until the run reports it (at most 5 s): attaching is not instantaneous."""
    for _ in range(25):
        await asyncio.to_thread(trigger)
        await asyncio.sleep(0.2)
        if any(marker in line for line in run.output.page(0, run.output.total).lines):
            return


async def _stop(services: Any, run: Any) -> Any:
    """Stop the run and return it with all its output (stop_execution alone returns the last lines)."""
    await invoke(services, services.registry.get("tool", "stop_execution"), {"execution_id": run.id})
    return await invoke(services, services.registry.get("tool", "get_result"), {"execution_id": run.id, "limit": 5000})


@requires_bpftrace
async def test_exec_trace_sees_a_program_start_with_its_arguments(services) -> None:  # type: ignore[no-untyped-def]
    run = await _start(services, "exec_trace", {"comm": "sh"})
    marker = "mcptrace-exec-marker"

    def execs_at_once(word: str = marker) -> None:  # eight shells exec at once: their lines must not mix
        shells = [subprocess.Popen(["/bin/sh", "-c", f"/bin/echo {word} {n} >/dev/null"]) for n in range(8)]
        assert all(shell.wait(timeout=30) == 0 for shell in shells)

    await _until_seen(run, execs_at_once, marker)  # attached; now one round that must be seen whole
    marker = "mcptrace-exec-final"
    await asyncio.to_thread(execs_at_once, marker)
    for _ in range(50):
        if sum(marker in line for line in run.output.page(0, run.output.total).lines) >= 8:
            break
        await asyncio.sleep(0.2)
    lines = (await _stop(services, run)).lines
    events = [line for line in lines if "argv:" in line]
    event = re.compile(r"\d\d:\d\d:\d\d pid=\d+ ppid=\d+ comm=\S* file=\S* argv: .*")
    assert events and all(event.fullmatch(line) for line in events), events[-20:]  # one printf per exec
    seen = {int(m.group(2)) for line in lines if (m := re.search(rf"comm=sh file=(/usr)?/bin/echo argv: /bin/echo {marker} (\d)\s*$", line))}
    assert seen == set(range(8)), lines[-20:]


@requires_bpftrace
async def test_file_opens_reports_the_failed_opens_of_one_process(services) -> None:  # type: ignore[no-untyped-def]
    opener = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfor line in sys.stdin:\n    try: open(line.strip())\n    except OSError: pass"],
        stdin=subprocess.PIPE, text=True,
    )
    run = await _start(services, "file_opens", {"failed_only": True, "pid": opener.pid})

    def trigger() -> None:
        opener.stdin.write("/nonexistent-dir/mcptrace-open-marker\n")  # type: ignore[union-attr]
        opener.stdin.flush()  # type: ignore[union-attr]

    await _until_seen(run, trigger, "mcptrace-open-marker")
    opener.communicate(timeout=10)
    lines = (await _stop(services, run)).lines
    events = [line for line in lines if "errno=" in line]
    assert events and all(line.startswith(f"pid={opener.pid} ") for line in events), lines  # the pid filter
    assert any("ret=-2 errno=2 path=/nonexistent-dir/mcptrace-open-marker" in line for line in lines), lines


@requires_bpftrace
async def test_signals_names_sender_target_and_signal(services) -> None:  # type: ignore[no-untyped-def]
    target = subprocess.Popen(
        [sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGUSR1, lambda *_: None)\nprint('ready', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert target.stdout.readline() == "ready\n"  # type: ignore[union-attr]
        run = await _start(services, "signals", {"target_pid": target.pid, "signal": "USR1"})
        await _until_seen(run, lambda: os.kill(target.pid, signal.SIGUSR1), f"target_pid={target.pid}")
        lines = (await _stop(services, run)).lines
    finally:
        target.kill()
        target.wait()
    expected = f"sender_pid={os.getpid()} sender_comm="
    events = [line for line in lines if "signal=" in line]
    assert events and all(expected in line and f"target_pid={target.pid} " in line and "signal=10 " in line for line in events), lines


@requires_bpftrace
async def test_tcp_connect_latency_counts_each_handshake_to_a_port(services) -> None:  # type: ignore[no-untyped-def]
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    run = await _start(services, "tcp_connect_latency", {"port": port, "by": "port"})
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)):
            server.accept()[0].close()
    server.close()
    maps = {m.name: m for m in (await _stop(services, run)).maps}
    [entry] = maps["@connect_us"].entries
    assert entry.key == str(port) and sum(bucket.count for bucket in entry.buckets or []) == 3
