"""The fleet over real SSH: OpenSSH servers on loopback ports, keys and known_hosts made here, real bpftrace.

Every "host" is an sshd this module starts on 127.0.0.1 (no other address is used) and runs this machine's
bpftrace. Ground truth: programs whose maps are known per host (BEGIN blocks, and syscalls a child process
makes a known number of times), so merged maps are checked against counts computed here.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MCPTRACE = shutil.which("mcptrace") or str(Path(sys.executable).with_name("mcptrace"))

from fleet_support import NOSUDO_USER, OPS_USER, Lab, fleet_available, free_ports, lab, tagged_processes
from conftest import requires_bpftrace
from mcptrace_core.config import Settings, load_settings
from mcptrace_core.services import Services

pytestmark = [
    pytest.mark.anyio,
    requires_bpftrace,
    pytest.mark.skipif(fleet_available() is not None, reason=str(fleet_available())),
    pytest.mark.timeout(600),
]

WRAPPER_MARK = "/tmp/mcptrace-fleet-"
BEGIN_PROGRAM = """BEGIN {
  @calls = count(); @bytes = sum(7); @low = min(3); @high = max(9);
  @lat = avg(10); @lat = avg(20); @sizes = stats(30);
  @h = hist(100); @h = hist(1000); @k["a"] = count(); @k["b"] = count(); @k["b"] = count();
  exit();
}"""


class World:
    def __init__(self, the_lab: Lab, inventory: Path, ports: dict[str, int]) -> None:
        self.lab = the_lab
        self.inventory = inventory
        self.ports = ports

    def settings(self, inventory: Path | None = None, history: Path | None = None, **fleet: object) -> Settings:
        config = self.lab.root / f"config-{time.monotonic_ns()}.toml"
        config.write_text(
            (f'[history]\npath = "{history}"\n' if history else "")
            + "[fleet]\n"
            f'inventory = "{inventory or self.inventory}"\n'
            f'known_hosts = "{self.lab.known_hosts}"\n'
            f'ssh_config = "{self.lab.root / "no-ssh-config"}"\n'
            "connect_timeout_s = 30\n"
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in fleet.items())
        )
        return load_settings(config)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("fleet")
    with lab(root) as the_lab:
        web_ports = free_ports(4)
        down_port = web_ports.pop()  # nothing listens there
        servers = [the_lab.start_sshd([port], f"web{i + 1}") for i, port in enumerate(web_ports)]
        for server in servers:
            the_lab.trust(server)
        (bad_port,) = free_ports(1)
        impostor = the_lab.start_sshd([bad_port], "badkey")
        the_lab.trust(impostor, key_line=servers[0].host_key_pub)  # known_hosts holds another host's key
        inventory = root / "hosts.ini"
        inventory.write_text(
            "# the test's fleet\n"
            "[web]\n"
            + "".join(f"web{i + 1} ansible_host=127.0.0.1 ansible_port={port}\n" for i, port in enumerate(web_ports))
            + "[trouble]\n"
            f"down ansible_host=127.0.0.1 ansible_port={down_port}\n"
            f"badkey ansible_host=127.0.0.1 ansible_port={bad_port}\n"
            f"nosudo ansible_host=127.0.0.1 ansible_port={web_ports[0]} ansible_user={NOSUDO_USER}\n"
            "[sudoers]\n"
            f"ops ansible_host=127.0.0.1 ansible_port={web_ports[1]} ansible_user={OPS_USER}\n"
            "[all:vars]\n"
            "ansible_user=root\n"
            f"ansible_ssh_private_key_file={the_lab.user_key}\n"
        )
        yield World(the_lab, inventory, {"web1": web_ports[0], "bad": bad_port, "down": down_port})


async def _session(settings: Settings):  # type: ignore[no-untyped-def]
    from mcp import Client

    from mcptrace_core.server import build_server

    services = Services.create(settings)
    return services, Client(build_server(services), mode="legacy")


def _structured(result) -> dict:  # type: ignore[no-untyped-def]
    assert not result.is_error, result.content[0].text
    return result.structured_content


def _maps(maps: list[dict]) -> dict[str, dict]:
    return {m["name"]: m for m in maps}


def _values(trace_map: dict) -> dict:
    return {e["key"]: e["value"] for e in trace_map["entries"]}


async def test_a_run_on_three_hosts_merges_maps_exactly_and_keeps_each_host(world: World) -> None:
    services, client = await _session(world.settings())
    try:
        async with client as session:
            started = _structured(await session.call_tool(
                "exec_program", {"program": BEGIN_PROGRAM, "hosts": ["web"], "wait": True, "timeout_s": 60}))
            assert started["execution_id"].startswith("fleet-")
            fleet = started["fleet"]
            assert sorted(h["host"] for h in fleet["hosts"]) == ["web1", "web2", "web3"]
            assert {h["status"] for h in fleet["hosts"]} == {"completed"}, fleet["hosts"]
            for host in fleet["hosts"]:  # each host's own maps: exactly what one bpftrace printed
                own = _maps(host["maps"])
                assert _values(own["@calls"]) == {None: 1}
                assert own["@lat"]["entries"][0]["stats"] == {"count": 2, "average": 15, "total": 30}
            merged = _maps(started["maps"])  # the usual maps field holds the merged maps, sent once
            assert "merged" not in fleet
            assert _values(merged["@calls"]) == {None: 3}
            assert _values(merged["@bytes"]) == {None: 21}
            assert _values(merged["@low"]) == {None: 3} and _values(merged["@high"]) == {None: 9}
            assert _values(merged["@k"]) == {"a": 3, "b": 6}
            assert merged["@lat"]["entries"][0]["stats"] == {"count": 6, "average": 15.0, "total": 90}
            assert merged["@sizes"]["entries"][0]["stats"] == {"count": 3, "average": 30.0, "total": 90}
            buckets = merged["@h"]["entries"][0]["buckets"]
            assert [(b["low"], b["high"], b["count"]) for b in buckets if b["count"]] == [(64, 128, 3), (512, 1024, 3)]
            assert any(line.startswith("[web2] ") for line in started["lines"])

            one = _structured(await session.call_tool(
                "get_result", {"execution_id": started["execution_id"], "hosts": ["web2"]}))
            assert one["lines"] and not any(line.startswith("[") for line in one["lines"][:1])
            assert {h["host"]: h["maps"] is not None for h in one["fleet"]["hosts"]} == {
                "web1": False, "web2": True, "web3": False}  # only the named host's maps
            assert _values(_maps(one["maps"])["@calls"]) == {None: 1}  # its own, as its page
            middle = _structured(await session.call_tool(
                "get_result", {"execution_id": started["execution_id"], "offset": 0, "limit": 1}))
            assert middle["has_more"] and all(h["maps"] is None for h in middle["fleet"]["hosts"])
            assert _maps(middle["maps"]) == merged  # a page that is not the last: merged maps only

            analysis = _structured(await session.call_tool("analyze_output", {"execution_id": started["execution_id"]}))
            comparison = analysis["fleet_comparison"]
            assert {c["map"] for c in comparison["maps"]} >= {"@calls", "@h"}
            assert all(not c["outliers"] for c in comparison["maps"])  # identical hosts: no outlier
    finally:
        await services.aclose()


async def test_a_fleet_run_is_kept_in_the_history_and_read_back_by_the_next_server(world: World,
                                                                                  tmp_path: Path) -> None:
    settings = world.settings(history=tmp_path / "history.sqlite3")
    services, client = await _session(settings)
    try:
        async with client as session:
            started = _structured(await session.call_tool(
                "exec_program", {"program": BEGIN_PROGRAM, "hosts": ["web"], "wait": True, "timeout_s": 60}))
            running = _structured(await session.call_tool(
                "exec_program", {"program": "interval:ms:100 { @ticks = count(); }", "hosts": ["web1", "web2"],
                                 "timeout_s": 120}))
            await asyncio.sleep(1.0)  # ticks on both hosts
    finally:
        await services.aclose()  # stops the running one; both are in the history before the server ends
    services, client = await _session(settings)
    try:
        async with client as session:
            kept = _structured(await session.call_tool("get_result", {"execution_id": started["execution_id"]}))
            assert kept["status"] == "completed" and kept["total_lines"] == started["total_lines"]
            assert _values(_maps(kept["maps"])["@calls"]) == {None: 3}  # the merged maps
            found = _structured(await session.call_tool("search_history", {"query": "web2", "limit": 5}))
            (hit,) = [run for run in found["runs"] if run["id"] == started["execution_id"]]
            assert "on web1, web2, web3" in hit["label"], hit
            stopped = _structured(await session.call_tool("get_result", {"execution_id": running["execution_id"]}))
            assert stopped["status"] == "stopped", stopped  # ended by the shutdown, not found interrupted later
            assert _values(_maps(stopped["maps"])["@ticks"])[None] >= 2  # both hosts' maps, kept at the stop
    finally:
        await services.aclose()


async def test_partial_failure_each_host_says_why_and_the_others_run(world: World) -> None:
    services, client = await _session(world.settings())
    try:
        async with client as session:
            result = _structured(await session.call_tool(
                "exec_program",
                {"program": "BEGIN { @c = count(); exit(); }", "hosts": ["web1", "trouble", "ops"], "wait": True}))
            hosts = {h["host"]: h for h in result["fleet"]["hosts"]}
            assert hosts["web1"]["status"] == "completed" and hosts["web1"]["login"] == "root"
            assert hosts["ops"]["status"] == "completed", hosts["ops"]
            assert hosts["ops"]["login"] == OPS_USER  # through sudo -n
            assert hosts["down"]["status"] == "failed" and "connect" in hosts["down"]["error"]
            assert hosts["badkey"]["status"] == "failed" and "host key" in hosts["badkey"]["error"]
            assert "mcptrace fleet accept badkey" in hosts["badkey"]["error"]
            assert hosts["nosudo"]["status"] == "failed" and "sudo" in hosts["nosudo"]["error"]
            assert _values(_maps(result["maps"])["@c"]) == {None: 2}  # the two that ran
            assert "3 of 5 hosts failed" in result["error"]
            assert result["status"] == "completed"  # partial failure is normal: the run went on

            info = _structured(await session.call_tool("bpf_info", {"hosts": ["web1", "down", "nosudo"]}))
            facts = {f["host"]: f for f in info["fleet_hosts"]}
            assert facts["web1"]["reachable"] and facts["web1"]["bpftrace"].startswith("bpftrace v")
            assert facts["web1"]["privilege"] == "root" and not facts["down"]["reachable"]
            assert facts["nosudo"]["privilege"] == "refused"
    finally:
        await services.aclose()


async def test_a_bcc_tool_runs_on_hosts_with_its_checked_arguments(world: World) -> None:
    services, client = await _session(world.settings())
    try:
        async with client as session:
            result = _structured(await session.call_tool("exec_bcc_tool", {
                "tool_name": "syscount", "arguments": {"top": 3}, "timeout_s": 2, "hosts": ["web1", "ops"],
                "wait": True}))
            hosts = {h["host"]: h for h in result["fleet"]["hosts"]}
            assert {h["status"] for h in hosts.values()} == {"completed"}, hosts
            assert all(h["total_lines"] > 0 for h in hosts.values())
            assert result["tool"] == "syscount", result["command"]
            assert "3" in " ".join(result["command"]), result["command"]
            assert any(line.startswith("[ops] ") for line in result["lines"])
    finally:
        await services.aclose()


async def test_the_run_timeout_stops_each_host_with_its_maps(world: World) -> None:
    services, client = await _session(world.settings())
    try:
        async with client as session:
            result = _structured(await session.call_tool("exec_program", {
                "program": "interval:ms:100 { @ticks = count(); }", "hosts": ["web1", "web2"], "timeout_s": 3,
                "wait": True}))
            for host in result["fleet"]["hosts"]:
                assert host["status"] == "timed_out", host
                assert _values(_maps(host["maps"])["@ticks"])[None] >= 5  # printed at the stop, kept
            assert result["status"] == "timed_out"
    finally:
        await services.aclose()


async def test_stop_stops_every_host_and_keeps_every_hosts_maps(world: World) -> None:
    marker = f"fl{os.getpid() % 100000}"
    program = f'tracepoint:syscalls:sys_enter_getppid /comm == "{marker}"/ {{ @calls = count(); }}'
    calls = 250
    services, client = await _session(world.settings())
    try:
        async with client as session:
            started = _structured(await session.call_tool(
                "exec_program", {"program": program, "hosts": ["web"], "timeout_s": 300}))
            assert all(h["attached_probes"] == 1 for h in started["fleet"]["hosts"]), started["fleet"]
            subprocess.run([sys.executable, "-c",
                            f"import os\nopen('/proc/self/comm','w').write('{marker}')\n"
                            f"for _ in range({calls}): os.getppid()"], check=True)
            stopped = _structured(await session.call_tool("stop_execution", {"execution_id": started["execution_id"]}))
            hosts = stopped["fleet"]["hosts"]
            assert {h["status"] for h in hosts} == {"stopped"}
            for host in hosts:
                assert _values(_maps(host["maps"])["@calls"]) == {None: calls}, host
            assert _values(_maps(stopped["execution"]["maps"])["@calls"]) == {None: 3 * calls}
            assert stopped["execution"]["status"] == "stopped"
    finally:
        await services.aclose()
    assert await _no_leftovers()


async def _no_leftovers(within_s: float = 60) -> bool:
    deadline = time.monotonic() + within_s
    while tagged_processes(WRAPPER_MARK):
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: {tagged_processes(WRAPPER_MARK)}")
        await asyncio.sleep(0.2)
    return True


async def test_sigkill_of_the_client_mid_run_leaves_no_bpftrace_on_any_host(world: World, tmp_path: Path) -> None:
    program = tmp_path / "long.bt"
    program.write_text("tracepoint:syscalls:sys_enter_getppid { @c = count(); }\n")
    config = world.settings()
    config_file = tmp_path / "config.toml"
    import tomli_w

    config_file.write_text(tomli_w.dumps({"fleet": config.fleet.model_dump(mode="json", exclude_none=True)}))
    env = {**os.environ, "MCPTRACE_CONFIG": str(config_file)}
    client = subprocess.Popen(
        [MCPTRACE, "run", "--hosts", "web,ops", "--timeout", "300", str(program)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        running: list[str] = []
        while time.monotonic() < deadline:
            running = [p for p in tagged_processes(WRAPPER_MARK) if " -f json " in p and "sh -c" not in p]
            if len(running) >= 4:
                break
            assert client.poll() is None, client.stderr.read().decode()  # type: ignore[union-attr]
            await asyncio.sleep(0.2)
        assert len(running) >= 4, running  # web1..3 as root and ops through sudo
        os.kill(client.pid, signal.SIGKILL)
        client.wait()
        assert await _no_leftovers()
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def test_the_cli_runs_on_a_group_and_prints_hosts_and_merged(world: World, tmp_path: Path) -> None:
    program = tmp_path / "begin.bt"
    program.write_text(BEGIN_PROGRAM)
    config_file = tmp_path / "config.toml"
    import tomli_w

    fleet = world.settings().fleet.model_dump(mode="json", exclude_none=True)
    fleet.pop("inventory")
    config_file.write_text(tomli_w.dumps({"fleet": fleet}))
    env = {**os.environ, "MCPTRACE_CONFIG": str(config_file)}
    done = subprocess.run(
        [MCPTRACE, "run", "--hosts", "web", "--inventory", str(world.inventory),
         "--json", str(program)], capture_output=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    document = json.loads(done.stdout)
    assert sorted(h["host"] for h in document["hosts"]) == ["web1", "web2", "web3"]
    assert _values(_maps(document["merged"])["@calls"]) == {None: 3}
    assert all(_values(_maps(host["maps"])["@calls"]) == {None: 1} for host in document["hosts"])

    listed = subprocess.run(
        [MCPTRACE, "fleet", "hosts", "--inventory", str(world.inventory), "--json"],
        capture_output=True, env=env, timeout=300,
    )
    rows = {row["host"]: row for row in json.loads(listed.stdout)["hosts"]}
    assert rows["web1"]["reachable"] and not rows["down"]["reachable"] and not rows["badkey"]["reachable"]
    assert rows["ops"]["privilege"] == "sudo" and rows["nosudo"]["privilege"] == "refused"

    info = subprocess.run([MCPTRACE, "fleet", "info", "web1", "--inventory", str(world.inventory), "--json"],
                          capture_output=True, env=env, timeout=300)
    (fact,) = json.loads(info.stdout)["hosts"]
    assert fact["kernel"] == os.uname().release and fact["login"] == "root"


def test_accept_adds_an_unknown_host_key_and_refuses_a_changed_one(world: World, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[fleet]\ninventory = "{world.inventory}"\nknown_hosts = "{known}"\n')
    env = {**os.environ, "MCPTRACE_CONFIG": str(config_file)}

    def accept(host: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([MCPTRACE, "fleet", "accept", host, "--yes", "--json"],
                              capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL)

    first = accept("web1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)["result"] == "added"
    line = known.read_text().strip()
    assert line.startswith(f"[127.0.0.1]:{world.ports['web1']} ssh-ed25519 ")
    assert json.loads(accept("web1").stdout)["result"] == "already known"
    known.write_text(f"[127.0.0.1]:{world.ports['bad']} {line.split(' ', 1)[1]}\n")  # another key for badkey
    changed = accept("badkey")
    assert changed.returncode == 1 and "another key" in json.loads(changed.stdout)["error"]


async def test_an_inventory_in_yaml_reaches_the_same_hosts(world: World, tmp_path: Path) -> None:
    from mcptrace_fleet.inventory import load_inventory

    ini = load_inventory(world.inventory, None)
    yaml_file = tmp_path / "hosts.yml"
    web = {name: {"ansible_host": h.address, "ansible_port": h.port} for name, h in ini.hosts.items()
           if "web" in h.groups}
    import yaml

    yaml_file.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(world.lab.user_key)},
        "children": {"frontends": {"children": {"web": {"hosts": web}}},
                     "trouble": {"hosts": {"down": {"ansible_host": "127.0.0.1", "ansible_port": world.ports["down"]}}}},
    }}))
    services, client = await _session(world.settings(inventory=yaml_file))
    try:
        async with client as session:
            result = _structured(await session.call_tool(
                "exec_program", {"program": "BEGIN { @c = count(); exit(); }", "hosts": ["frontends"], "wait": True}))
            assert {h["host"]: h["status"] for h in result["fleet"]["hosts"]} == {
                "web1": "completed", "web2": "completed", "web3": "completed"}
            validation = _structured(await session.call_tool(
                "validate_program", {"program": "BEGIN { @c = count(); }", "hosts": ["frontends"]}))
            (check,) = validation["fleet_checks"]  # one bpftrace version and kernel: checked once
            assert check["ok"] and len(check["hosts"]) == 3
            bad = _structured(await session.call_tool(
                "validate_program", {"program": "BEGIN { @c = count(); }", "hosts": ["web1", "down"]}))
            assert not bad["valid"] and bad["verdict"] == "block"
    finally:
        await services.aclose()


async def test_thirty_hosts_run_at_once_and_merge(world: World) -> None:
    ports = free_ports(30)
    # Two sshd answering on 15 ports each (sshd listens on at most 16): 30 inventory hosts, 30 sessions.
    servers = [world.lab.start_sshd(ports[:15], "scale-a"), world.lab.start_sshd(ports[15:], "scale-b")]
    for server in servers:
        world.lab.trust(server)
    inventory = world.lab.root / "scale.ini"
    inventory.write_text("[scale]\n" + "".join(
        f"node{i:02d} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
        f"ansible_ssh_private_key_file={world.lab.user_key}\n" for i, port in enumerate(ports)))
    services, client = await _session(world.settings(inventory=inventory))
    try:
        async with client as session:
            result = _structured(await session.call_tool(
                "exec_program", {"program": "BEGIN { @c = count(); @h = hist(5); exit(); }",
                                 "hosts": ["node*"], "wait": True, "timeout_s": 300}))
            statuses = {h["host"]: h["status"] for h in result["fleet"]["hosts"]}
            assert len(statuses) == 30 and set(statuses.values()) == {"completed"}, result["fleet"]["hosts"]
            merged = _maps(result["maps"])
            assert _values(merged["@c"]) == {None: 30}
            assert merged["@h"]["entries"][0]["buckets"][0]["count"] == 30
    finally:
        await services.aclose()
        for server in servers:
            server.stop()


async def test_a_long_poll_returns_with_the_next_line_any_host_prints(world: World) -> None:
    services, client = await _session(world.settings())
    try:
        async with client as session:
            started = _structured(await session.call_tool("exec_program", {
                "program": 'interval:ms:700 { printf("tick\\n"); }', "hosts": ["web1", "web2"], "timeout_s": 120}))
            offset = started["total_lines"]
            begin = time.monotonic()
            page = _structured(await session.call_tool(
                "get_result", {"execution_id": started["execution_id"], "offset": offset, "wait_s": 60}))
            assert page["lines"] and page["lines"][0].endswith("] tick"), page["lines"]
            assert page["status"] == "running" and time.monotonic() - begin < 50
            assert all(h["maps"] is None for h in page["fleet"]["hosts"])  # running: the merge only
            listed = _structured(await session.call_tool("list_executions", {"status": "running"}))
            (mine,) = [run for run in listed["executions"] if run["execution_id"] == started["execution_id"]]
            assert mine["status"] == "running" and "[on web1, web2]" in mine["label"], mine
            stopped = _structured(await session.call_tool("stop_execution", {"execution_id": started["execution_id"]}))
            assert all(h["maps"] is not None for h in stopped["fleet"]["hosts"])
            still_running = _structured(await session.call_tool("list_executions", {"status": "running"}))
            assert started["execution_id"] not in {run["execution_id"] for run in still_running["executions"]}
            everything = _structured(await session.call_tool("list_executions", {}))
            assert started["execution_id"] in {run["execution_id"] for run in everything["executions"]}
    finally:
        await services.aclose()
