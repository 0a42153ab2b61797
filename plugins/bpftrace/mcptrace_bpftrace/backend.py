"""The bpftrace backend: where bpftrace is, what it can do here, and how a program becomes a run."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import ClassVar

from mcptrace_core.config import Settings
from mcptrace_core.hostcache import cache_dir
from mcptrace_core.interfaces import Backend
from mcptrace_core.models import HostCheck
from mcptrace_core.privilege import (
    PrivilegedCommands, command_prefix, is_root, pass_environment, setup_fix, user_name,
)
from mcptrace_core.runs.checks import CheckLimiter
from mcptrace_core.textsafety import clean_text
from mcptrace_core.runs.models import RunSpec, program_label
from mcptrace_core.runs.process import Bounds, kill_group, spawn

from mcptrace_bpftrace import host
from mcptrace_bpftrace.chains import ChainBook
from mcptrace_bpftrace.executable import Bpftrace, BpftraceMissing, locate
from mcptrace_bpftrace.features import OLDEST, Features
from mcptrace_bpftrace.jsonout import JsonOutputDecoder
from mcptrace_bpftrace.limits import KNOWN_LIMITS
from mcptrace_bpftrace.probes import FunctionListings, ProbeCatalog
from mcptrace_bpftrace.stderr import HostFacts, keep_line, parse_errors
from mcptrace_bpftrace.tracefs import TracefsReader
from mcptrace_bpftrace.validate.compile import CompileCache

LIST_TIMEOUT_S = 60.0
LISTING_BOUNDS = Bounds(death_signal=signal.SIGKILL)
DETACH_S_PER_PROBE = 0.1
"""Measured ~75 ms to detach one tracepoint (71 probes: 5 s); rounded up for slower hosts."""
BASE_GRACE_S = 5.0
"""bpftrace exits in well under a second after SIGINT on a quiet machine; a loaded one may need seconds."""
MAX_GRACE_S = 120.0

_FIXES = {
    "kprobe": "this kernel has no kprobes (CONFIG_KPROBES=n): use tracepoints, or boot a kernel with "
    "CONFIG_KPROBES=y and mount tracefs",
    "kfunc": "kfunc/fentry needs BTF and BPF trampolines (x86_64/arm64, Linux >= 5.5): use tracepoints or kprobes",
    "hardware": "no hardware PMU is visible (usual in VMs): use software:cpu-clock or profile:hz instead",
    "iter": "bpf iterators need Linux >= 5.5 with BTF",
    "rawtracepoint": "this bpftrace has no rawtracepoint probe type (0.17 lacks it): use the tracepoint of the "
    "same event",
    "uprobe": "uprobes need CONFIG_UPROBE_EVENTS=y and a readable target binary",
}


class BpftraceBackend(Backend):
    name: ClassVar[str] = "bpftrace"
    description: ClassVar[str] = "Runs bpftrace programs: tracepoints, uprobes, profiling, intervals, kprobes where available."

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = ProbeCatalog(
            self.list_probes_raw,
            TracefsReader(host.tracefs_root),
            FunctionListings(cache_dir() / "uprobe-functions", self._lister_identity),
        )
        self.chains = ChainBook()
        """exec_with_retry's attempts, by chain."""
        self.compile_cache = CompileCache(CheckLimiter(settings.checks))
        """bpftrace's compile checks of recent programs (a validated program runs without a second one)."""
        self._bpftrace: Bpftrace | None = None
        self._probe_types: dict[str, host.ProbeTypeStatus] | None = None
        self._probe_types_lock = asyncio.Lock()

    # -- the executable and how to call it ------------------------------------------------------

    def executable(self) -> Bpftrace:
        """The located bpftrace (raises BpftraceMissing with the fix)."""
        if self._bpftrace is None:
            self._bpftrace = locate(self.settings.bpftrace.path)
        return self._bpftrace

    def _lister_identity(self) -> list[str]:
        """Which bpftrace lists probes, and how it is called (through sudo or not)."""
        return [*self.command(), self.executable().version_text]

    def features(self) -> Features:
        """What this bpftrace offers; 0.17's options and names when it is missing (nothing will run then)."""
        try:
            return self.executable().features
        except BpftraceMissing:
            return OLDEST

    def command(self) -> list[str]:
        """The privilege prefix and the bpftrace path (raises PrivilegeError or BpftraceMissing)."""
        return command_prefix(self.settings.privilege) + [self.executable().path]

    def command_with(self, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """``command()`` and the environment that carries ``env`` to bpftrace (through sudo, its command line).

        The compile cache keys a check by both: a check and a run that compiled must be recorded alike.
        """
        return pass_environment(self.settings.privilege, self.command(), env)

    def privileged_commands(self) -> PrivilegedCommands:
        """bpftrace itself, with the BPFTRACE_* limits a policy sets (they go on sudo's command line)."""
        bpftrace = self.executable()
        names = {bpftrace.features.env_name(name) for name in KNOWN_LIMITS}  # as this build reads them
        return PrivilegedCommands(commands=[[bpftrace.path]], environment=sorted(names))

    async def list_probes_raw(self, args: list[str]) -> str:
        """Run ``bpftrace <args>`` for a listing and return its stdout."""
        process = await spawn([*self.command(), *args], {}, LISTING_BOUNDS)
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), LIST_TIMEOUT_S)
        except TimeoutError:
            kill_group(process.pid)
            await process.wait()
            raise RuntimeError(f"bpftrace {' '.join(args)} did not finish in {LIST_TIMEOUT_S:g} s") from None
        finally:
            kill_group(process.pid)
        if process.returncode != 0:
            problems = [line for line in stderr.decode("utf-8", "replace").splitlines() if keep_line(line)]
            raise ValueError(f"bpftrace {' '.join(args)} failed: {'; '.join(problems[-3:]) or process.returncode}")
        return stdout.decode("utf-8", "replace")

    # -- what works here -------------------------------------------------------------------------

    async def probe_types(self, refresh: bool = False) -> dict[str, host.ProbeTypeStatus]:
        """Usability of each probe type, measured by trial runs, cached per boot on disk."""
        async with self._probe_types_lock:
            if self._probe_types is not None and not refresh:
                return self._probe_types
            command = self.command()
            cache = host.ProbeTypeCache(cache_dir() / "bpftrace-probe-types.json")
            key = cache.key(self.executable(), command)
            measured = None if refresh else cache.load(key)
            if measured is None:
                measured = await host.measure_probe_types(command)
                cache.save(key, measured)
            self._probe_types = measured
            return measured

    def host_facts(self) -> HostFacts:
        if self._probe_types is not None:
            return HostFacts(kprobes_usable=self._probe_types["kprobe"].usable)
        return HostFacts(kprobes_usable=host.kprobe_events_present())

    async def doctor(self) -> list[HostCheck]:
        checks = []
        try:
            bpftrace = self.executable()
            checks.append(HostCheck(name="bpftrace installed", ok=True, detail=f"{bpftrace.path}: {bpftrace.version_text}"))
        except Exception as error:
            return [HostCheck(name="bpftrace installed", ok=False, detail=str(error),
                              fix="apt-get install -y bpftrace (or set bpftrace.path)")]
        privilege = await self._privilege_check()
        checks.append(privilege)
        root = host.tracefs_root() or host.tracefs_mounted()
        readable = "" if root is None or host.tracefs_root() else " (readable by root only; bpftrace reads it for you)"
        checks.append(HostCheck(
            name="tracefs mounted", ok=root is not None, detail=f"{root}{readable}" if root else "not mounted",
            fix=None if root else "mount -t tracefs tracefs /sys/kernel/tracing",
        ))
        debugfs = "debugfs" in host.mounted_filesystems()
        checks.append(HostCheck(
            name="debugfs mounted", ok=debugfs, detail="bpftrace 0.17 looks for kprobe/uprobe events under it",
            fix=None if debugfs else "mount -t debugfs debugfs /sys/kernel/debug",
        ))
        btf = host.BTF_VMLINUX.exists()
        checks.append(HostCheck(
            name="kernel BTF", ok=btf, detail=str(host.BTF_VMLINUX) if btf else "no /sys/kernel/btf/vmlinux",
            fix=None if btf else "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (struct access and kfunc need it)",
        ))
        if privilege.ok:
            for probe_type, status in (await self.probe_types()).items():
                if probe_type in host.DERIVED:
                    continue
                checks.append(HostCheck(
                    name=f"{probe_type} probes", ok=status.usable, detail=status.detail,
                    fix=None if status.usable else _FIXES.get(probe_type, "see the detail"),
                ))
        return checks

    async def _privilege_check(self) -> HostCheck:
        """Root, or a prefix that really works: `prefix bpftrace --version` must succeed without a prompt."""
        if is_root():
            return HostCheck(name="privilege", ok=True, detail="running as root")
        prefix = self.settings.privilege.prefix
        who = f"{user_name()} (uid {os.geteuid()})"
        if not prefix:
            return HostCheck(
                name="privilege", ok=False, detail=f"{who} is not root and privilege.prefix is not set",
                fix=f"have an administrator run `{setup_fix()}` (or run mcptrace as root)",
            )
        problem = await _prefix_problem(prefix + [self.executable().path, "--version"])
        if problem:
            return HostCheck(
                name="privilege", ok=False, detail=f"{who}: `{' '.join(prefix)} bpftrace --version` failed: {problem}",
                fix=f"have an administrator run `{setup_fix()}` (it allows bpftrace and the BCC tools without a "
                "password and nothing else)",
            )
        return HostCheck(name="privilege", ok=True, detail=f"{who} through {' '.join(prefix)}")

    # -- runs ------------------------------------------------------------------------------------

    def run_spec(
        self,
        program: str,
        timeout_s: float,
        env: dict[str, str] | None = None,
        *,
        unsafe: bool = False,
        chain_id: str | None = None,
        attempt: int | None = None,
    ) -> RunSpec:
        """How to run ``program``; ``unsafe`` adds --unsafe (only ever after the safety gate said so)."""
        facts = self.host_facts()
        argv, run_env = pass_environment(
            self.settings.privilege,
            self.command() + ["-f", "json"] + (["--unsafe"] if unsafe else []) + ["-e", program],
            env or {},
        )
        return RunSpec(
            argv=argv,
            backend=self.name,
            label=program_label(program),
            timeout_s=timeout_s,
            decoder=JsonOutputDecoder(),
            env=run_env,
            stderr_filter=keep_line,
            grace_s=grace_period,
            interrupt_lost=host.interrupt_lost,
            interrupt_ready=host.in_event_loop,
            program=program,
            explain=lambda stderr, exit_code: parse_errors(stderr, exit_code, facts),
            chain_id=chain_id,
            attempt=attempt,
        )


def grace_period(attached_probes: int) -> float:
    """Seconds between SIGINT and SIGKILL: detaching takes time per probe, so a big run gets longer."""
    return min(MAX_GRACE_S, BASE_GRACE_S + DETACH_S_PER_PROBE * attached_probes)


async def _prefix_problem(argv: list[str]) -> str | None:
    """Why ``argv`` (the privilege prefix and a harmless command) fails, None when it succeeds."""
    try:
        process = await spawn(argv, {}, LISTING_BOUNDS, stdout_pipe=False)
    except OSError as error:
        return f"{argv[0]}: {error.strerror}"
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), LIST_TIMEOUT_S)
    except TimeoutError:
        return f"no answer in {LIST_TIMEOUT_S:g} s"
    finally:
        kill_group(process.pid)
    if process.returncode == 0:
        return None
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return clean_text(lines[-1] if lines else f"exit code {process.returncode}", 300)
