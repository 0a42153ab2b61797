"""Fleet fan-out and merge cost.

1. Fan-out: 30 "hosts" (OpenSSH servers on loopback ports, made as the tests make them) running the same
   program, against the slowest single host run alone. Two times each, interleaved: from exec to every
   host attached, and from exec to the merged maps of a program that ends by itself. Target <= 1.5x.
2. Merge: 30 hosts x 10,000 keys of a count map (plus a histogram map per host). Target <= 200 ms.

Needs root, bpftrace and openssh-server. Run: python benchmarks/fleet_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fleet_support import fleet_available, free_ports, lab  # noqa: E402

from mcptrace_core.config import load_settings  # noqa: E402
from mcptrace_core.models import HistBucket, MapEntry, TraceMap  # noqa: E402

HOSTS = 30
ATTACH_PROGRAM = "tracepoint:syscalls:sys_enter_getppid { @c = count(); }"
MERGE_PROGRAM = "BEGIN { @c = count(); @h = hist(100); exit(); }"


def merge_bench(rounds: int) -> None:
    from mcptrace_fleet.merge import merge_maps

    per_host = {}
    for host in range(HOSTS):
        counts = TraceMap(name="@c", kind="value",
                          entries=[MapEntry(key=f"key{(i * 7 + host) % 12_000}", value=i + host) for i in range(10_000)])
        hist = TraceMap(name="@h", kind="hist", entries=[MapEntry(buckets=[
            HistBucket(low=2 ** b, high=2 ** (b + 1), count=b + host) for b in range(30)])])
        per_host[f"h{host}"] = [counts, hist]
    functions = {"@c": "count", "@h": "hist"}
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        merged, _ = merge_maps(per_host, functions)
        samples.append(time.perf_counter() - started)
    keys = len(merged[0].entries)
    print(f"merge {HOSTS} x 10,000 keys (+ a 30-bucket histogram each) -> {keys} keys: "
          f"median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms (target <= 200 ms)")


def client_cpu_s() -> float:
    """CPU seconds this process (the mcptrace side: SSH client, merge, results) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fan_out(settings, hosts: list[str], program: str, attach_only: bool) -> float:  # type: ignore[no-untyped-def]
    from mcptrace_core.services import Services
    from mcptrace_core.tools import invoke

    services = Services.create(settings)
    try:
        spec = services.registry.get("tool", "exec_program")
        started = time.perf_counter()
        result = await invoke(services, spec, {"program": program, "hosts": hosts, "wait": not attach_only,
                                               "timeout_s": 120})
        elapsed = time.perf_counter() - started
        statuses = {h.status for h in result.fleet.hosts}  # type: ignore[attr-defined]
        wanted = {"running"} if attach_only else {"completed"}
        if statuses != wanted or (attach_only and any(h.attached_probes != 1 for h in result.fleet.hosts)):  # type: ignore[attr-defined]
            raise RuntimeError(f"hosts not all {wanted}: {[(h.host, h.status, h.error) for h in result.fleet.hosts]}")  # type: ignore[attr-defined]
        if attach_only:
            await invoke(services, services.registry.get("tool", "stop_execution"), {"execution_id": result.execution_id})  # type: ignore[attr-defined]
        return elapsed
    finally:
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (the machine is shared: numbers under load)")
    merge_bench(max(5, args.rounds))
    why = fleet_available()
    if why:
        print(f"fan-out skipped: {why}")
        return
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as folder, lab(Path(folder)) as the_lab:
        ports = free_ports(HOSTS)
        servers = [the_lab.start_sshd(ports[:15], "a"), the_lab.start_sshd(ports[15:], "b")]
        for server in servers:
            the_lab.trust(server)
        inventory = Path(folder) / "hosts.ini"
        inventory.write_text("[bench]\n" + "".join(
            f"n{i:02d} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
            f"ansible_ssh_private_key_file={the_lab.user_key}\n" for i, port in enumerate(ports)))
        config = Path(folder) / "config.toml"
        config.write_text(f'[fleet]\ninventory = "{inventory}"\nknown_hosts = "{the_lab.known_hosts}"\n'
                          f'ssh_config = "{Path(folder) / "none"}"\nconnect_timeout_s = 60\n[history]\nenabled = false\n')
        settings = load_settings(config)
        everyone = [f"n{i:02d}" for i in range(HOSTS)]
        for label, program, attach_only in (("exec -> all attached", ATTACH_PROGRAM, True),
                                            ("exec -> merged maps", MERGE_PROGRAM, False)):
            single: list[float] = []
            fleet: list[float] = []
            client: list[float] = []
            asyncio.run(fan_out(settings, ["n00"], program, attach_only))  # warm caches (validation, probe types)
            for _ in range(args.rounds):
                # "the slowest single host": each of a few hosts alone, the slowest of them
                single.append(max(asyncio.run(fan_out(settings, [name], program, attach_only))
                                  for name in ("n00", "n14", "n29")))
                before = client_cpu_s()
                fleet.append(asyncio.run(fan_out(settings, everyone, program, attach_only)))
                client.append(client_cpu_s() - before)
            ratio = statistics.median(fleet) / statistics.median(single)
            print(f"{label}: 30 hosts median {statistics.median(fleet):.2f} s, slowest single host median "
                  f"{statistics.median(single):.2f} s: {ratio:.2f}x (target <= 1.5x); mcptrace's own CPU for "
                  f"the 30 hosts {statistics.median(client):.2f} s (the rest is the hosts' sshd and bpftrace)")
        floor = [asyncio.run(local_floor(MERGE_PROGRAM)) for _ in range(args.rounds)]
        print(f"floor: {HOSTS} bpftrace processes started at once here, no SSH (what 30 hosts sharing these "
              f"{os.cpu_count()} cores cost by themselves): median {statistics.median(floor):.2f} s")


async def local_floor(program: str) -> float:
    """30 bpftrace runs of ``program`` at once on this machine: the cost SSH and merging add nothing to."""
    started = time.perf_counter()
    processes = [await asyncio.create_subprocess_exec(
        "bpftrace", "-f", "json", "-e", program, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(HOSTS)]
    await asyncio.gather(*(process.communicate() for process in processes))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
