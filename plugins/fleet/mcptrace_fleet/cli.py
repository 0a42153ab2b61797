"""`mcptrace fleet hosts|info|accept`: the fleet's inventory, what each host is, and trusting a host key.

Runs on the fleet are `mcptrace run --hosts ...` and `mcptrace bcc run --hosts ...` (the core commands,
whose ``hosts`` reach this plugin through its tool extension).
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option, run_async
from mcptrace_core.cli.run import fleet_overrides, inventory_option


def _state(state: CliState, inventory: str | None) -> Any:
    from mcptrace_fleet.state import FleetState

    return FleetState(state.settings(**fleet_overrides(inventory)))


def _select(fleet_state: Any, patterns: list[str], as_json: bool) -> list[Any]:
    """The hosts ``patterns`` name; an unreadable inventory or an unknown name ends the command."""
    from mcptrace_fleet.inventory import InventoryError

    from mcptrace_core.tools import ToolError

    try:
        return fleet_state.inventory().select(patterns)  # type: ignore[no-any-return]
    except (InventoryError, ToolError) as error:
        fail(str(error), as_json)


@click.group()
def fleet() -> None:
    """Many hosts over SSH: list the inventory, check the hosts, accept a host key.

    Hosts come from ~/.ssh/config (Host names) and the Ansible inventory in fleet.inventory or
    --inventory. Host keys must be in known_hosts: `mcptrace fleet accept HOST` adds one after showing
    its fingerprint. Run on hosts with `mcptrace run --hosts GROUP FILE` or `mcptrace bcc run --hosts ...`.
    """


@fleet.command("hosts")
@click.argument("patterns", nargs=-1)
@click.option("--check/--no-check", default=True, help="Connect to each host to show whether it is reachable.")
@inventory_option
@json_option
@click.pass_obj
@run_async
async def hosts_command(state: CliState, patterns: tuple[str, ...], check: bool, inventory: str | None,
                        as_json: bool) -> None:
    """List the fleet's hosts (PATTERNS: names, groups, 'web*'; all when omitted) with reachability."""
    from mcptrace_fleet.facts import fleet_facts

    fleet_state = _state(state, inventory)
    chosen = _select(fleet_state, list(patterns) or ["all"], as_json)
    facts = {f.host: f for f in await fleet_facts(chosen, fleet_state.files, fleet_state.settings.fleet)} if check else {}
    rows = []
    for host in chosen:
        fact = facts.get(host.name)
        rows.append({
            "host": host.name, "address": host.address, "port": host.port, "user": host.user,
            "groups": sorted(host.groups), "source": host.source,
            "reachable": fact.reachable if fact else None, "error": fact.error if fact else None,
            "privilege": fact.privilege if fact else None,
        })
    text = "\n".join(
        f"{row['host']:<24} {','.join(row['groups']) or '-':<24} "
        + ("" if row["reachable"] is None else "reachable" if row["reachable"] else f"UNREACHABLE: {row['error']}")
        + (f" ({row['privilege']})" if row["privilege"] else "")
        for row in rows
    ) or "no hosts"
    emit({"hosts": rows}, text, as_json)


@fleet.command("info")
@click.argument("patterns", nargs=-1)
@inventory_option
@json_option
@click.pass_obj
@run_async
async def info_command(state: CliState, patterns: tuple[str, ...], inventory: str | None, as_json: bool) -> None:
    """What each host is: login, kernel, bpftrace version, BTF, privilege (root, sudo or refused)."""
    from mcptrace_fleet.facts import fleet_facts

    fleet_state = _state(state, inventory)
    chosen = _select(fleet_state, list(patterns) or ["all"], as_json)
    facts = await fleet_facts(chosen, fleet_state.files, fleet_state.settings.fleet)
    text = "\n".join(
        f"{f.host:<24} " + (f"{f.login}@ kernel {f.kernel}, {f.bpftrace or 'NO bpftrace'}, BTF {'yes' if f.btf else 'no'}, "
                            f"privilege {f.privilege}" if f.reachable else f"UNREACHABLE: {f.error}")
        for f in facts
    )
    emit({"hosts": [f.model_dump(mode="json") for f in facts]}, text, as_json)


@fleet.command("accept")
@click.argument("host_name")
@click.option("--yes", is_flag=True, help="Do not ask: accept the key shown (for scripts that checked it).")
@inventory_option
@json_option
@click.pass_obj
def accept_command(state: CliState, host_name: str, yes: bool, inventory: str | None, as_json: bool) -> None:
    """Trust HOST_NAME's current host key: show its fingerprint, then add it to known_hosts.

    Compare the fingerprint with the one the host's admin sees (`ssh-keygen -lf /etc/ssh/ssh_host_*.pub`).
    A host that already has a different key is refused: remove the old line with ssh-keygen -R first.
    """
    from mcptrace_fleet.ssh import ConnectError, accept_host_key, fetch_host_key

    fleet_state = _state(state, inventory)
    chosen = _select(fleet_state, [host_name], as_json)
    if len(chosen) != 1:
        fail(f"{host_name!r} names {len(chosen)} hosts: accept one host at a time", as_json)
    (host,) = chosen
    files = fleet_state.files
    try:
        pattern, key_line, fingerprint = asyncio.run(
            fetch_host_key(host, files, fleet_state.settings.fleet.connect_timeout_s))
    except ConnectError as error:
        fail(str(error), as_json)
    if not yes:
        if as_json or not click.get_text_stream("stdin").isatty():
            fail(f"{pattern} presents {fingerprint}; pass --yes to accept it without a terminal", as_json)
        click.echo(f"{pattern} presents the key {fingerprint}", err=True)
        if not click.confirm("Trust it?", default=False, err=True):
            fail("not accepted", as_json)
    try:
        outcome = accept_host_key(files.known_hosts, pattern, key_line)
    except ConnectError as error:
        fail(str(error), as_json)
    emit({"host": host.name, "pattern": pattern, "fingerprint": fingerprint, "known_hosts": str(files.known_hosts),
          "result": outcome}, f"{pattern} {fingerprint}: {outcome} ({files.known_hosts})", as_json)
