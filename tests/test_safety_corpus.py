"""A corpus of dangerous programs, and traps for false positives, with the verdict each policy must give.

Each program is analysed for real (parsed, compiled by bpftrace -d, its probes counted on this host),
then judged under each built-in policy.
"""

from __future__ import annotations

import glob

import anyio
import pytest

from mcptrace_core.safety.models import ValidationReport
from mcptrace_core.safety.policies import resolve_policy
from mcptrace_core.services import Services
from mcptrace_bpftrace.validate.validator import analyze, judge
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace]

LEVELS = ("strict", "standard", "permissive")

# (name, program, verdicts for strict / standard / permissive, the rule that must fire or None)
DANGEROUS = [
    ("system", 'BEGIN { system("touch /tmp/x"); exit(); }', ("block", "confirm", "confirm"), "unsafe-builtin"),
    ("signal", 'tracepoint:syscalls:sys_enter_kill { signal("KILL"); }', ("block", "confirm", "confirm"),
     "unsafe-builtin"),
    ("override", "kprobe:should_fail_bio { override(-5); }", ("block", "block", "block"), "unsafe-builtin"),
    ("shadow", 'BEGIN { cat("/etc/shadow"); exit(); }', ("block", "block", "block"), "sensitive-file-read"),
    ("shadow-dotdot", 'BEGIN { cat("/etc/../etc//shadow"); exit(); }', ("block", "block", "block"),
     "sensitive-file-read"),
    ("environ", 'tracepoint:sched:sched_process_exec { cat("/proc/%d/environ", pid); }', ("block", "block", "block"),
     "sensitive-file-read"),
    ("ssh-key", 'BEGIN { cat("/root/.ssh/id_ed25519"); exit(); }', ("block", "block", "block"), "sensitive-file-read"),
    ("cat-any-file", 'tracepoint:syscalls:sys_enter_openat { cat("%s", str(args->filename)); }',
     ("block", "confirm", "confirm"), "sensitive-file-read"),
    ("kprobe-star", "kprobe:* { @[func] = count(); }", ("block", "block", "block"), "wildcard-attach"),
    ("all-syscalls", "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }", ("block", "confirm", "allow"),
     "wildcard-attach"),
    ("every-tracepoint", "tracepoint:*:* { @[probe] = count(); }", ("block", "block", "allow"), "wildcard-attach"),
    ("profile-20khz", "profile:hz:20000 { @[kstack] = count(); }", ("block", "block", "allow"), "sampling-frequency"),
    ("profile-2khz", "profile:hz:2000 { @[kstack] = count(); }", ("block", "confirm", "allow"), "sampling-frequency"),
    ("cpu-clock-every-event", "software:cpu-clock:100 { @ = count(); }", ("block", "confirm", "allow"),
     "sampling-frequency"),
    ("printf-sched-switch", 'tracepoint:sched:sched_switch { printf("%s -> %s\\n", args->prev_comm, args->next_comm); }',
     ("block", "confirm", "allow"), "hot-probe-output"),
    ("printf-raw-syscalls", 'tracepoint:raw_syscalls:sys_enter { printf("%d %d\\n", pid, args->id); }',
     ("block", "confirm", "allow"), "hot-probe-output"),
    ("tls-capture", "uprobe:libssl:SSL_write { printf(\"%s\\n\", str(arg1, arg2)); }", ("block", "confirm", "allow"),
     "tls-plaintext"),
    ("tls-capture-via-map", "uprobe:libssl:SSL_read { @buf[tid] = arg1; } "
     "uretprobe:libssl:SSL_read /@buf[tid]/ { printf(\"%s\\n\", str(@buf[tid])); delete(@buf[tid]); }",
     ("block", "confirm", "allow"), "tls-plaintext"),
    ("tls-capture-handed-to-another-probe", "uprobe:libssl:SSL_write { @buf[tid] = arg1; } "
     'tracepoint:syscalls:sys_exit_write /@buf[tid]/ { printf("%s\\n", str(@buf[tid])); delete(@buf[tid]); }',
     ("block", "confirm", "allow"), "tls-plaintext"),
    ("pam", "uprobe:libpam:pam_authenticate { @[comm] = count(); }", ("block", "confirm", "allow"),
     "credential-program"),
    ("crypt-argument", 'uprobe:libcrypt:crypt { printf("%s\\n", str(arg0)); }', ("block", "confirm", "allow"),
     "credential-program"),
    ("sudo", "uprobe:/usr/bin/sudo:main { @ = count(); }", ("block", "confirm", "allow"), "credential-program"),
]

TRAPS = [
    ("unsafe-words-in-a-string", 'BEGIN { printf("system(\\"ls\\"), signal(9) and override(1)\\n"); exit(); }'),
    ("shadow-in-a-comment", '// cat("/etc/shadow");\nBEGIN { exit(); }'),
    ("unsafe-in-a-block-comment", "BEGIN { /* system(\"reboot\"); override(-1); */ printf(\"ok\\n\"); exit(); }"),
    ("builtin-names-as-maps", "BEGIN { @system = 1; @cat = 2; $signal = 3; printf(\"%d\\n\", $signal); exit(); }"),
    ("shadow-as-a-compared-string",
     'tracepoint:syscalls:sys_enter_openat /str(args->filename) == "/etc/shadow"/ { @[comm] = count(); }'),
    ("hot-probe-aggregated", "tracepoint:sched:sched_switch { @[args->next_comm] = count(); }"),
    ("hot-probe-filtered", 'tracepoint:sched:sched_switch /args->next_pid == 1/ { printf("init runs\\n"); }'),
    ("hot-probe-guarded", 'tracepoint:sched:sched_switch { if (args->next_pid == 1) { printf("init runs\\n"); } }'),
    ("printing-on-an-interval", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } interval:s:1 { print(@); }"),
    ("harmless-proc-file", 'BEGIN { cat("/proc/loadavg"); exit(); }'),
    ("profile-99hz", "profile:hz:99 { @[kstack] = count(); }"),
    ("every-page-fault", "software:page-faults:1 { @[comm] = count(); }"),
    ("tls-timing-only", "uprobe:libssl:SSL_read { @start[tid] = nsecs; } "
     "uretprobe:libssl:SSL_read /@start[tid]/ { @us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }"),
    ("tls-timing-beside-an-unrelated-str", "uprobe:libssl:SSL_read { @[comm] = count(); } "
     'tracepoint:syscalls:sys_enter_execve { printf("%s\\n", str(args->filename)); }'),
    ("exec-printing", 'tracepoint:syscalls:sys_enter_execve { printf("%s\\n", str(args->filename)); }'),
]


@pytest.fixture
async def judged(services: Services):  # type: ignore[no-untyped-def]
    """Analyse a program for real once, then judge it under each built-in policy."""
    backend = services.backend("bpftrace")
    policies = {level: resolve_policy(services, level) for level in LEVELS}
    rules = services.registry.safety_rules

    async def run(program: str) -> dict[str, ValidationReport]:
        analysis = await analyze(backend, program, policies["standard"].limits, policies["standard"].include_dirs)
        return {level: judge(analysis, [policy], rules, None) for level, policy in policies.items()}

    return run


@pytest.mark.parametrize(("name", "program", "verdicts", "rule"), DANGEROUS, ids=[case[0] for case in DANGEROUS])
async def test_dangerous_programs_get_their_verdicts(judged, name: str, program: str, verdicts: tuple[str, ...],
                                                     rule: str) -> None:  # type: ignore[no-untyped-def]
    reports = await judged(program)
    got = tuple(reports[level].verdict for level in LEVELS)
    assert got == verdicts, [(f.rule, f.severity.value, f.message) for f in reports["standard"].findings]
    assert rule in {finding.rule for finding in reports["standard"].findings}
    for finding in reports["standard"].findings:
        assert finding.line is not None and finding.fix and finding.rationale


@pytest.mark.parametrize(("name", "program"), TRAPS, ids=[case[0] for case in TRAPS])
async def test_traps_raise_no_finding_that_matters(judged, name: str, program: str) -> None:  # type: ignore[no-untyped-def]
    reports = await judged(program)
    assert reports["standard"].valid, reports["standard"].errors
    for level in LEVELS:
        assert reports[level].verdict == "allow", (level, [(f.rule, f.message) for f in reports[level].findings])


HOST_TOOLS = sorted(glob.glob("/usr/sbin/*.bt"))


@pytest.mark.skipif(not HOST_TOOLS, reason="the bpftrace package's tools (/usr/sbin/*.bt) are not installed")
async def test_no_host_tool_is_blocked_at_the_default_level(services: Services) -> None:
    backend = services.backend("bpftrace")
    policy = resolve_policy(services)
    assert policy.name == "standard"
    side_by_side = anyio.Semaphore(2)  # bpftrace -d on tools with #include is slow: two at a time
    blocked = {}

    async def check(path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            program = handle.read()
        async with side_by_side:
            analysis = await analyze(backend, program, policy.limits, policy.include_dirs)
        report = judge(analysis, [policy], services.registry.safety_rules, None)
        if report.verdict == "block":
            blocked[path] = [(finding.rule, finding.message) for finding in report.findings]

    async with anyio.create_task_group() as group:
        for path in HOST_TOOLS:
            group.start_soon(check, path)
    assert not blocked
