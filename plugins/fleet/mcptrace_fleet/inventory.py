"""The fleet's hosts and groups: Ansible inventories (INI and YAML) and the Host names of ~/.ssh/config.

People who run many Linux hosts already keep one of these; mcptrace reads them rather than inventing a
format. From an Ansible inventory: hosts, groups (with ``:children``), and the connection variables
``ansible_host``, ``ansible_port``, ``ansible_user`` and ``ansible_ssh_private_key_file`` (host
variables over group variables). Other variables are ignored. From an OpenSSH client config: every
``Host`` name without wildcards; OpenSSH's own rules (HostName, Port, User, IdentityFile) are applied
when connecting, by the SSH library reading the same file.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_INVENTORY_BYTES = 4 * 1024 * 1024
MAX_HOSTS = 10_000
NAME = re.compile(r"^[A-Za-z0-9_.:@%+-][A-Za-z0-9_.:@%+/-]{0,252}$")
RANGE = re.compile(r"\[(\d+):(\d+)\]")
VARIABLES = {"ansible_host": "address", "ansible_port": "port", "ansible_user": "user",
             "ansible_ssh_private_key_file": "key_file"}


IMPLICIT = {"all", "ungrouped"}
"""Ansible's implicit groups: every host is in 'all' (which the selection term 'all' means), never listed."""


class InventoryError(Exception):
    """The inventory cannot be read, or a host selection names nothing known."""


@dataclass
class Host:
    """One host as the fleet reaches it."""

    name: str
    address: str | None = None
    """Where to connect; the name itself (resolved by the ssh config, then DNS) when None."""
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    groups: set[str] = field(default_factory=set)
    source: str = ""


@dataclass
class Inventory:
    hosts: dict[str, Host] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    """Group name -> host names, children already folded in."""

    def select(self, patterns: Iterable[str]) -> list[Host]:
        """The hosts named by ``patterns``: 'all', group names, host names, shell patterns ('web*'), and
        '!pattern' to leave some out. A term that names nothing is an error that says what exists."""
        chosen: dict[str, Host] = {}
        excluded: set[str] = set()
        for raw in patterns:
            for term in (part.strip() for part in re.split(r"[,\s]+", raw)):
                if not term:
                    continue
                target = excluded if term.startswith("!") else None
                names = self._names(term.lstrip("!"))
                if target is not None:
                    excluded.update(names)
                else:
                    chosen.update((name, self.hosts[name]) for name in names)
        return [host for name, host in chosen.items() if name not in excluded]

    def _names(self, term: str) -> list[str]:
        if term == "all":
            return sorted(self.hosts)
        if term in self.groups:
            return sorted(self.groups[term])
        if term in self.hosts:
            return [term]
        matched = sorted(name for name in self.hosts if fnmatch.fnmatchcase(name, term))
        matched += sorted({n for group, members in self.groups.items() if fnmatch.fnmatchcase(group, term) for n in members})
        if not matched:
            known_groups = ", ".join(sorted(self.groups)) or "none"
            raise InventoryError(
                f"hosts: {term!r} names no host or group of the inventory (groups: {known_groups}; "
                f"{len(self.hosts)} hosts; `mcptrace fleet hosts` lists them)"
            )
        return list(dict.fromkeys(matched))

    def add(self, host: Host) -> Host:
        """Add or merge a host (the inventory's details win over an ssh config entry of the same name)."""
        existing = self.hosts.get(host.name)
        if existing is None:
            if len(self.hosts) >= MAX_HOSTS:
                raise InventoryError(f"more than {MAX_HOSTS} hosts in the inventory")
            self.hosts[host.name] = host
            return host
        for attribute in ("address", "port", "user", "key_file"):
            if getattr(host, attribute) is not None:
                setattr(existing, attribute, getattr(host, attribute))
        existing.groups |= host.groups
        return existing


def load_inventory(inventory: Path | None, ssh_config: Path | None) -> Inventory:
    """The fleet: the ssh config's hosts (group 'ssh_config'), then the inventory file's hosts and groups."""
    result = Inventory()
    if ssh_config is not None and ssh_config.exists():
        for name in ssh_config_hosts(_read(ssh_config)):
            result.add(Host(name=name, groups={"ssh_config"}, source=str(ssh_config)))
    if inventory is not None:
        text = _read(inventory)
        if inventory.suffix in (".yml", ".yaml") or text.lstrip().startswith(("all:", "---")):
            parse_yaml(text, result, str(inventory))
        else:
            parse_ini(text, result, str(inventory))
    for host in result.hosts.values():
        for group in host.groups:
            result.groups.setdefault(group, set()).add(host.name)
    return result


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_INVENTORY_BYTES:
            raise InventoryError(f"{path}: {size} bytes is over the limit of {MAX_INVENTORY_BYTES}")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"inventory {path} does not exist (fleet.inventory or --inventory)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InventoryError(f"inventory {path} cannot be read: {error}") from None


def ssh_config_hosts(text: str) -> list[str]:
    """The concrete names of ``Host`` lines (patterns with * ? ! are rules, not hosts)."""
    names: list[str] = []
    for line in text.splitlines():
        words = re.split(r"\s*=\s*|\s+", line.strip(), maxsplit=1)
        if len(words) == 2 and words[0].lower() == "host":
            for name in words[1].split():
                if not any(mark in name for mark in "*?!") and NAME.match(name):
                    names.append(name)
    return list(dict.fromkeys(names))


def expand(name: str) -> list[str]:
    """An Ansible host range: 'web[01:03]' is web01, web02, web03 (zero-padding kept)."""
    match = RANGE.search(name)
    if not match:
        return [name]
    start, end = match.group(1), match.group(2)
    if int(end) - int(start) > MAX_HOSTS:
        raise InventoryError(f"host range {name!r} is over {MAX_HOSTS} hosts")
    width = len(start) if start.startswith("0") else 0
    head, tail = name[: match.start()], name[match.end():]
    return [n for i in range(int(start), int(end) + 1) for n in expand(f"{head}{str(i).zfill(width)}{tail}")]


def _host(name: str, variables: dict[str, Any], group: str | None, source: str) -> list[Host]:
    hosts = []
    for concrete in expand(name):
        if not NAME.match(concrete):
            raise InventoryError(f"{source}: {concrete!r} is not a host name")
        host = Host(name=concrete, groups={group} if group and group not in IMPLICIT else set(), source=source)
        _apply(host, variables, source)
        hosts.append(host)
    return hosts


def _apply(host: Host, variables: dict[str, Any], source: str) -> None:
    for variable, attribute in VARIABLES.items():
        if variable not in variables or variables[variable] is None:
            continue
        value = variables[variable]
        if attribute == "port":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise InventoryError(f"{source}: {host.name}: ansible_port {value!r} is not a number") from None
            if not 0 < value < 65536:
                raise InventoryError(f"{source}: {host.name}: ansible_port {value} is not a port")
        setattr(host, attribute, value if attribute == "port" else str(value))


def parse_ini(text: str, into: Inventory, source: str = "inventory") -> None:
    """Ansible's INI form: ``[group]`` host lines with key=value variables, ``[group:children]``,
    ``[group:vars]``; hosts before any section are ungrouped."""
    section, kind = "ungrouped", "hosts"
    children: dict[str, set[str]] = {}
    group_vars: dict[str, dict[str, str]] = {}
    members: dict[str, set[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise InventoryError(f"{source}:{number}: unknown section kind {kind!r}")
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise InventoryError(f"{source}:{number}: {error}") from None
        if not words:
            continue
        if kind == "children":
            children.setdefault(section, set()).add(words[0])
        elif kind == "vars":
            key, _, value = line.partition("=")
            group_vars.setdefault(section, {})[key.strip()] = value.strip().strip("'\"")
        else:
            variables = dict(word.partition("=")[::2] for word in words[1:] if "=" in word)
            for host in _host(words[0], variables, section, source):
                members.setdefault(section, set()).add(into.add(host).name)
    _fold(into, members, children, group_vars, source)


def parse_yaml(text: str, into: Inventory, source: str = "inventory") -> None:
    """Ansible's YAML form: groups with ``hosts`` (name: variables), ``children`` and ``vars``."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise InventoryError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: the top level must map group names to groups")
    members: dict[str, set[str]] = {}
    children: dict[str, set[str]] = {}
    group_vars: dict[str, dict[str, Any]] = {}

    def walk(name: str, group: Any, depth: int) -> None:
        if depth > 20:
            raise InventoryError(f"{source}: groups nested deeper than 20")
        group = group or {}
        if not isinstance(group, dict):
            raise InventoryError(f"{source}: group {name!r} must be a mapping")
        group_vars.setdefault(name, {}).update(group.get("vars") or {})
        for host_name, variables in (group.get("hosts") or {}).items():
            for host in _host(str(host_name), variables or {}, name, source):
                members.setdefault(name, set()).add(into.add(host).name)
        for child, child_group in (group.get("children") or {}).items():
            children.setdefault(name, set()).add(str(child))
            walk(str(child), child_group, depth + 1)

    for name, group in data.items():
        walk(str(name), group, 0)
    _fold(into, members, children, group_vars, source)


def _fold(into: Inventory, members: dict[str, set[str]], children: dict[str, set[str]],
          group_vars: dict[str, dict[str, Any]], source: str) -> None:
    """Give each host the groups its groups are children of, and group variables where the host has none."""

    def ancestors(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        parents = {parent for parent, kids in children.items() if group in kids and parent not in seen}
        return parents.union(*(ancestors(parent, seen | {group}) for parent in parents)) if parents else set()

    for group, names in members.items():
        lineage = {group, "all"} | ancestors(group)
        for name in names:
            host = into.hosts[name]
            host.groups |= lineage - IMPLICIT
            # A variable is taken from the first group that has it: the host's own group, its parents, 'all' last.
            for ancestor in sorted(lineage, key=lambda g: (g == "all", g != group)):
                defaults = {k: v for k, v in group_vars.get(ancestor, {}).items()
                            if k in VARIABLES and getattr(host, VARIABLES[k]) is None}
                _apply(host, defaults, source)
