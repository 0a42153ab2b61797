"""What each host is: reachable, its login, kernel, bpftrace version, BTF, and whether sudo -n works.

One short fixed command per host (no caller text in it), run ``fleet.max_parallel`` hosts at a time.
bpf_info with hosts, ``mcptrace fleet hosts|info`` and validate_program's grouping by version and
kernel all come from here.
"""

from __future__ import annotations

import asyncio
import shlex
import time

from pydantic import Field

from mcptrace_core.config import FleetSettings
from mcptrace_core.models import Model
from mcptrace_core.textsafety import clean_line

from mcptrace_fleet.inventory import Host
from mcptrace_fleet.ssh import ConnectError, SshFiles, connect

FACTS_SCRIPT = r"""
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "uid=$(id -u)"
v=$("$1" --version 2>/dev/null | head -n 1); echo "bpftrace=$v"
[ -e /sys/kernel/btf/vmlinux ] && echo "btf=yes" || echo "btf=no"
if [ "$(id -u)" = 0 ]; then echo "sudo=not needed"; elif sudo -n true 2>/dev/null; then echo "sudo=ok"; else echo "sudo=refused"; fi
"""


class HostFactsReport(Model):
    host: str
    reachable: bool
    error: str | None = Field(None, description="Why the host could not be reached or logged in to.")
    login: str | None = None
    kernel: str | None = None
    arch: str | None = None
    bpftrace: str | None = Field(None, description="`bpftrace --version` there; None when it is missing.")
    btf: bool | None = None
    privilege: str | None = Field(None, description="'root', 'sudo' (sudo -n works) or 'refused' (runs will fail).")
    latency_ms: float | None = Field(None, description="Time to connect, log in and run the fact command.")

    @property
    def version_key(self) -> tuple[str | None, str | None]:
        return (self.bpftrace, self.kernel)


async def host_facts(host: Host, files: SshFiles, settings: FleetSettings) -> HostFactsReport:
    started = time.monotonic()
    try:
        connection = await connect(host, files, settings.connect_timeout_s)
    except ConnectError as error:
        return HostFactsReport(host=host.name, reachable=False, error=str(error))
    async with connection:
        command = shlex.join(["sh", "-c", FACTS_SCRIPT, "mcptrace-facts", settings.remote_bpftrace])
        try:
            result = await asyncio.wait_for(connection.run(command, check=False), settings.connect_timeout_s)
        except (TimeoutError, OSError) as error:
            return HostFactsReport(host=host.name, reachable=False, error=f"the fact command did not finish: {error}")
        facts = {}
        for line in str(result.stdout or "").splitlines()[:20]:
            key, _, value = line.partition("=")
            facts[key] = clean_line(value.strip(), 200)
        privilege = {"not needed": "root", "ok": "sudo"}.get(facts.get("sudo", ""), "refused")
        return HostFactsReport(
            host=host.name, reachable=True, login=connection.get_extra_info("username"),
            kernel=facts.get("kernel") or None, arch=facts.get("arch") or None,
            bpftrace=facts.get("bpftrace") or None, btf=facts.get("btf") == "yes", privilege=privilege,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
        )


async def fleet_facts(hosts: list[Host], files: SshFiles, settings: FleetSettings) -> list[HostFactsReport]:
    gate = asyncio.Semaphore(settings.max_parallel)

    async def one(host: Host) -> HostFactsReport:
        async with gate:
            try:
                return await host_facts(host, files, settings)
            except Exception as error:  # one host's surprise stays that host's
                return HostFactsReport(host=host.name, reachable=False, error=f"{type(error).__name__}: {error}")

    return list(await asyncio.gather(*(one(host) for host in hosts)))
