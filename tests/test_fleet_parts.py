"""The fleet's pure parts, against ground truth computed here: inventories, the merge, outliers, the remote command.

The real SSH runs are in test_fleet.py; these need no host.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import pytest

from mcptrace_core.models import HistBucket, MapEntry, MapStats, TraceMap
from mcptrace_fleet.compare import compare_hosts
from mcptrace_fleet.inventory import InventoryError, load_inventory
from mcptrace_fleet.merge import map_functions, merge_maps, rewrite_avg
from mcptrace_fleet.wrapper import payload, remote_command

INI = """
# comment
loner ansible_host=10.0.0.9

[web]
web[01:03] ansible_port=2201
special ansible_host=192.0.2.7 ansible_user=alice ansible_port=2222

[db]
db1 ansible_host=198.51.100.1

[prod:children]
web
db

[prod:vars]
ansible_user=ops
ansible_port=22

[all:vars]
ansible_user=root
"""

YAML = """
all:
  vars:
    ansible_user: root
  children:
    prod:
      vars:
        ansible_user: ops
      children:
        web:
          hosts:
            web01: {ansible_port: 2201}
            special: {ansible_host: 192.0.2.7, ansible_user: alice, ansible_port: 2222}
        db:
          hosts:
            db1: {ansible_host: 198.51.100.1}
  hosts:
    loner: {ansible_host: 10.0.0.9}
"""


@pytest.mark.parametrize("name,text", [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_inventories_in_both_forms_give_hosts_groups_and_variables(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    inventory = load_inventory(path, None)
    special = inventory.hosts["special"]
    assert (special.address, special.port, special.user) == ("192.0.2.7", 2222, "alice")  # host vars win
    assert inventory.hosts["web01"].port == 2201 and inventory.hosts["web01"].user == "ops"  # group over all
    assert inventory.hosts["loner"].user == "root" and inventory.hosts["loner"].address == "10.0.0.9"
    assert {"web", "prod"} <= inventory.hosts["web01"].groups
    names = lambda patterns: sorted(h.name for h in inventory.select(patterns))  # noqa: E731
    assert names(["prod"]) == sorted(["db1", "special", "web01"] + (["web02", "web03"] if name.endswith("ini") else []))
    assert names(["web*,!special"]) == names(["web0*"])
    assert names(["all"]) == sorted(inventory.hosts)
    with pytest.raises(InventoryError, match="names no host or group.*groups: db, prod, web"):
        inventory.select(["nosuch"])


def test_ssh_config_hosts_join_without_wildcards(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host bastion jump\n  HostName 192.0.2.1\nHost *.internal !x\n  User me\nHost=edge\n")
    inventory = load_inventory(None, config)
    assert sorted(inventory.hosts) == ["bastion", "edge", "jump"]
    assert inventory.groups["ssh_config"] == {"bastion", "edge", "jump"}
    assert inventory.hosts["bastion"].address is None  # OpenSSH's rules apply when connecting


def test_bad_inventories_are_refused_with_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[web]\nweb1 ansible_port=http\n")
    with pytest.raises(InventoryError, match="ansible_port 'http' is not a number"):
        load_inventory(bad, None)
    with pytest.raises(InventoryError, match="does not exist"):
        load_inventory(tmp_path / "absent.ini", None)


def _value_map(name: str, values: dict[str | None, int]) -> TraceMap:
    return TraceMap(name=name, kind="value", entries=[MapEntry(key=k, value=v) for k, v in values.items()])


def test_merge_is_exact_per_aggregation() -> None:
    program = ("kprobe:x { @c[comm] = count(); @s = sum(arg0); @lo = min(arg0); @hi = max(arg0); @n++; "
               "@a = avg(arg0); @h = hist(arg0); @v = 5; }")
    functions = map_functions(rewrite_avg(program))
    assert functions == {"@c": "count", "@s": "sum", "@lo": "min", "@hi": "max", "@n": "sum", "@a": "stats",
                         "@h": "hist", "@v": "value"}
    hosts = {
        "a": [_value_map("@c", {"x": 2, "y": 1}), _value_map("@s", {None: 10}), _value_map("@lo", {None: 4}),
              _value_map("@hi", {None: 4}), _value_map("@n", {None: 3}), _value_map("@v", {None: 5}),
              TraceMap(name="@a", kind="stats", entries=[MapEntry(stats=MapStats(count=3, average=2, total=7))]),
              TraceMap(name="@h", kind="hist", entries=[MapEntry(buckets=[
                  HistBucket(low=None, high=0, count=1), HistBucket(low=4, high=8, count=2)])])],
        "b": [_value_map("@c", {"y": 5}), _value_map("@s", {None: -3}), _value_map("@lo", {None: 1}),
              _value_map("@hi", {None: 9}), _value_map("@n", {None: 1}), _value_map("@v", {None: 6}),
              TraceMap(name="@a", kind="stats", entries=[MapEntry(stats=MapStats(count=1, average=20, total=20))]),
              TraceMap(name="@h", kind="hist", entries=[MapEntry(buckets=[
                  HistBucket(low=4, high=8, count=5), HistBucket(low=8, high=None, count=1)])])],
    }
    merged, unmerged = merge_maps(hosts, functions)
    by_name = {m.name: m for m in merged}
    assert {e.key: e.value for e in by_name["@c"].entries} == {"x": 2, "y": 6}
    assert by_name["@s"].entries[0].value == 7 and by_name["@n"].entries[0].value == 4
    assert by_name["@lo"].entries[0].value == 1 and by_name["@hi"].entries[0].value == 9
    assert by_name["@a"].entries[0].stats == MapStats(count=4, total=27, average=27 / 4)
    assert [(b.low, b.high, b.count) for b in by_name["@h"].entries[0].buckets] == [(None, 0, 1), (4, 8, 7), (8, None, 1)]
    assert "@v" not in by_name and any(note.startswith("@v:") for note in unmerged)


def test_rewrite_avg_touches_calls_only() -> None:
    program = 'BEGIN { @a[1] = avg(2); printf("avg(%d)\\n", 1); } // avg( in a comment'
    assert rewrite_avg(program) == 'BEGIN { @a[1] = stats(2); printf("avg(%d)\\n", 1); } // avg( in a comment'


def test_the_outlier_host_is_named() -> None:
    per_host = {f"h{i}": {"@c": _value_map("@c", {None: 100 + i})} for i in range(9)}
    per_host["slow"] = {"@c": _value_map("@c", {None: 900})}
    comparison = compare_hosts(per_host, {"@c": "count"}, {"gone": "unreachable"})
    (only,) = comparison.maps
    assert [o.host for o in only.outliers] == ["slow"] and only.median == 104.5
    assert "slow" in comparison.summary and "gone" in comparison.summary
    even = compare_hosts({h: {"@c": _value_map("@c", {None: 5})} for h in "abc"}, {"@c": "count"}, {})
    assert not even.maps[0].outliers


def test_the_remote_command_is_fixed_words_and_the_program_travels_on_stdin() -> None:
    hostile = "BEGIN { printf(\"'; reboot #\"); }"
    command = remote_command("abc123", ["bpftrace", "-f", "json"], {"BPFTRACE_MAX_PROBES": "512"}, sudo=True)
    assert "reboot" not in command
    words = shlex.split(command)
    assert words[:4] == ["sudo", "-n", "sh", "-c"] and words[-3:] == ["bpftrace", "-f", "json"]
    assert payload(hostile) == f"{len(hostile.encode())}\n".encode() + hostile.encode()
    with pytest.raises(ValueError):
        remote_command("abc; reboot", ["bpftrace"])


def test_the_wrapper_runs_the_program_file_and_kills_its_group_at_end_of_input(tmp_path: Path) -> None:
    """The POSIX sh wrapper itself, run locally: the program arrives intact as a file; EOF kills the group."""
    words = shlex.split(remote_command("t3st", ["sh"]))
    program = 'echo "started $$"; sleep 600 & wait\n'
    process = subprocess.Popen(words, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(payload(program))
    process.stdin.flush()
    started = process.stdout.readline().decode()
    group = int(started.split()[1])
    process.stdin.close()  # the channel closed
    assert process.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while (alive := _live_members(group)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"left in the group: {alive}"


def _live_members(group: int) -> list[str]:
    """Processes of the group that are not zombies (a zombie has already died; its parent reaps it late)."""
    members = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
    live = []
    for pid in members:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            live.append(pid)
    return live
