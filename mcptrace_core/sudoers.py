"""`mcptrace setup sudo`: a sudoers drop-in that lets one user run exactly the tracing commands as root.

MCP clients run as the user, and tracing needs root. The rule written here allows that user the
executables the backends name (bpftrace, the installed BCC tools) without a password and nothing else:
no shell, no interpreter, no ``env``. The variables a run needs (the BPFTRACE_* limits) are allowed on
sudo's command line for those commands alone, so they survive env_reset. A rule for a file the user
could replace would be root for that user, so every command and the folders above it must belong to
root and be writable by root alone. The file is checked with ``visudo -c`` before it is put in place,
and the whole sudo configuration is checked again after.

What the rule cannot do: bpftrace and some BCC tools (trace, argdist) take programs, and bpftrace as root
with ``--unsafe`` or ``-c`` runs any command. Whoever acts as that user outside mcptrace (a shell, another
tool of the assistant) can therefore do as root what mcptrace's safety policy would refuse: give the rule
only to users who may be root anyway, and let the assistant reach the tracers through mcptrace alone.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcptrace_core.privilege import SUDO_PREFIX, PrivilegedCommands

SUDOERS_DIR = Path("/etc/sudoers.d")
SAFE_WORD = re.compile(r"^[A-Za-z0-9/_.+-]+$")
"""Characters a path or argument may have in the rule: none of sudoers' specials (, : = \\ space * ?)."""


class SudoSetupError(Exception):
    """The rule cannot be written safely; the message says why and what to do."""


@dataclass(frozen=True)
class SudoRule:
    user: pwd.struct_passwd
    text: str
    path: Path


def user_config_file(user: pwd.struct_passwd) -> Path:
    """The user's mcptrace config at its default place, where the privilege prefix is set."""
    return Path(user.pw_dir) / ".config" / "mcptrace" / "config.toml"


def drop_in_path(user: pwd.struct_passwd) -> Path:
    """/etc/sudoers.d/mcptrace-NAME: sudo skips names with a dot, so other characters become '_'."""
    return SUDOERS_DIR / ("mcptrace-" + re.sub(r"[^A-Za-z0-9_-]", "_", user.pw_name))


def find_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise SudoSetupError(f"no user named {name!r} on this host") from None


def render(user: pwd.struct_passwd, backends: dict[str, PrivilegedCommands]) -> SudoRule:
    """The drop-in for ``user``: one command alias per backend, its environment, the user's rule."""
    if user.pw_uid == 0:
        raise SudoSetupError("root needs no sudo rule: mcptrace run as root traces directly")
    lines = [
        f"# Written by `mcptrace setup sudo --user {user.pw_name}`; `mcptrace setup sudo --user {user.pw_name} "
        "--remove` takes it away.",
        f"# {user.pw_name} (uid {user.pw_uid}) may run exactly these tracing commands as root without a password,",
        "# and nothing else. mcptrace runs them as `sudo -n COMMAND ...` (an argv, never through a shell).",
    ]
    aliases = []
    for backend, wanted in sorted(backends.items()):
        if not wanted.commands:
            continue
        alias = f"MCPTRACE_{re.sub(r'[^A-Z0-9]', '_', backend.upper())}_{user.pw_uid}"
        entries = [_entry(command) for command in wanted.commands]
        lines.append(f"Cmnd_Alias {alias} = " + ", \\\n    ".join(entries))
        if wanted.environment:
            for name in wanted.environment:
                if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or name.startswith(("LD_", "PYTHONPATH")):
                    raise SudoSetupError(f"backend {backend} asks to pass {name!r} through sudo; refused")
            lines.append(f'Defaults!{alias} env_keep += "{" ".join(sorted(wanted.environment))}"')
        lines.append(f"Defaults!{alias} !requiretty")
        aliases.append(alias)
    if not aliases:
        raise SudoSetupError("no backend names a command to run as root (is bpftrace installed?)")
    lines.append(f"#{user.pw_uid} ALL=(root) NOPASSWD: {', '.join(aliases)}")
    return SudoRule(user=user, text="\n".join(lines) + "\n", path=drop_in_path(user))


def _entry(command: list[str]) -> str:
    """One command of the alias: a bare path allows any arguments; a longer head allows exactly it,
    alone or followed by any arguments (sudoers' '*' does not match nothing)."""
    if not command or not command[0].startswith("/"):
        raise SudoSetupError(f"command {command!r} is not an absolute path")
    for word in command:
        if not SAFE_WORD.match(word):
            raise SudoSetupError(f"{word!r} has characters a sudoers rule would read specially; refused")
    _check_owned_by_root(Path(command[0]))
    for word in command[1:]:
        if word.startswith("/"):
            _check_owned_by_root(Path(word))
    if len(command) == 1:
        return command[0]
    head = " ".join(command)
    return f"{head}, {head} *"


def _check_owned_by_root(path: Path) -> None:
    """Refuse a command that anyone but root could change: the file, and every folder above it."""
    real = path.resolve()
    for item in [real, *real.parents]:
        info = item.stat()
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SudoSetupError(
                f"{path}: {item} is not owned by root or is writable by others, so a rule for it would give "
                "root to whoever can change it; refused"
            )
    if not os.access(real, os.X_OK) or not real.is_file():
        raise SudoSetupError(f"{path} is not an executable file")


def visudo_check(path: Path) -> None:
    """``visudo -c -f path``: the file parses (and its mode and owner are right for sudo)."""
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    if not Path(visudo).exists():
        raise SudoSetupError("visudo not found: install sudo first (apt-get install -y sudo)")
    result = subprocess.run([visudo, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SudoSetupError(f"visudo -c refused the rule: {(result.stderr or result.stdout).strip()[:500]}")


def install(rule: SudoRule) -> None:
    """Check the rule with visudo, then put it in place atomically with mode 0440 (root only)."""
    if os.geteuid() != 0:
        raise SudoSetupError(f"writing {rule.path} needs root: run `sudo mcptrace setup sudo --user {rule.user.pw_name}`")
    SUDOERS_DIR.mkdir(mode=0o750, exist_ok=True)
    # A name with a dot is skipped by sudo's #includedir, so the file is inert until it is renamed.
    handle, temporary = tempfile.mkstemp(prefix=".mcptrace-", dir=SUDOERS_DIR)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(rule.text)
        os.chmod(temporary, 0o440)
        visudo_check(Path(temporary))
        os.replace(temporary, rule.path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    try:
        visudo_check(Path("/etc/sudoers"))  # the whole configuration, with the new file included
    except SudoSetupError:
        rule.path.unlink(missing_ok=True)
        raise


def remove(user: pwd.struct_passwd) -> bool:
    """Delete the user's drop-in; False when there was none."""
    path = drop_in_path(user)
    if not path.exists():
        return False
    path.unlink()
    return True


def config_update(current: dict[str, Any], bpftrace_path: str | None, enable: bool) -> dict[str, Any]:
    """The user's config with the privilege prefix (and the bpftrace the rule names) set, or taken out."""
    updated = {key: dict(value) if isinstance(value, dict) else value for key, value in current.items()}
    if enable:
        updated.setdefault("privilege", {})["prefix"] = list(SUDO_PREFIX)
        if bpftrace_path:
            updated.setdefault("bpftrace", {})["path"] = bpftrace_path
    else:
        for section, key in (("privilege", "prefix"), ("bpftrace", "path")):
            if isinstance(updated.get(section), dict):
                updated[section].pop(key, None)
                if not updated[section]:
                    del updated[section]
    return updated


def write_user_config(user: pwd.struct_passwd, path: Path, bpftrace_path: str | None, enable: bool) -> str:
    """Set (or unset) the prefix in the user's config file, as that user.

    The file is in the user's home, which the user controls (a symlink there could point anywhere), so
    root never writes it: a child process that has become the user does.
    """
    import tomli_w

    pid = os.fork()
    if pid == 0:  # the child: become the user, then read and write as the user
        code = 1
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            current: dict[str, Any] = {}
            if not enable and not path.exists():
                os._exit(0)  # nothing to take out
            if path.exists():
                current = tomllib.loads(path.read_text(encoding="utf-8"))
                shutil.copy2(path, path.with_name(path.name + ".bak"))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(tomli_w.dumps(config_update(current, bpftrace_path, enable)), encoding="utf-8")
            code = 0
        except BaseException as error:  # the child reports and exits; it must never return into the CLI
            os.write(2, f"error: writing {path} as {user.pw_name}: {error}\n".encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SudoSetupError(f"could not update {path} as {user.pw_name} (see above)")
    return f"{'set' if enable else 'removed'} privilege.prefix = {SUDO_PREFIX} in {path}"
