"""Real SSH hosts for the fleet tests and benchmarks: OpenSSH servers on loopback ports, keys made here.

Each "host" is an sshd the test starts on 127.0.0.1 with its own host key; the user key, the
known_hosts file, the ssh client config and the inventory are written into a temporary folder. The
logins are root (as most tracing fleets use) and two test accounts: ``mcpfleet-ops``, which may run
anything through ``sudo -n`` (a sudoers.d rule made and removed here), and ``mcpfleet-nosudo``, which
may not. bpftrace on every host is this machine's own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
OPS_USER = "mcpfleet-ops"
NOSUDO_USER = "mcpfleet-nosudo"
SUDOERS_FILE = Path("/etc/sudoers.d/mcpfleet-test")


def fleet_available() -> str | None:
    """Why the fleet tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (sshd, test users)"
    for tool in (SSHD, "/usr/bin/ssh-keygen", "/usr/bin/sudo", "/usr/bin/setsid"):
        if not Path(tool).exists():
            return f"{tool} is missing (apt-get install -y openssh-server openssh-client sudo util-linux)"
    return None


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def keygen(path: Path) -> str:
    """A fresh ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mcpfleet-test", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class Sshd:
    """One OpenSSH server process listening on some loopback ports."""

    ports: list[int]
    host_key_pub: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Lab:
    """The test's hosts and the client files pointing at them."""

    root: Path
    user_key: Path
    known_hosts: Path
    authorized_keys: Path
    servers: list[Sshd] = field(default_factory=list)

    def start_sshd(self, ports: list[int], name: str) -> Sshd:
        """An sshd on ``ports`` (127.0.0.1 only) with its own host key, waiting until it accepts."""
        folder = self.root / name
        folder.mkdir()
        host_key = folder / "host_ed25519"
        host_pub = keygen(host_key)
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [*(f"ListenAddress 127.0.0.1:{port}" for port in ports),
                 f"HostKey {host_key}",
                 f"PidFile {folder / 'sshd.pid'}",
                 f"AuthorizedKeysFile {self.authorized_keys}",
                 "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "MaxStartups 200:30:400",
                 "MaxSessions 50", "LogLevel ERROR", "PrintMotd no", ""]
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=open(folder / "sshd.log", "wb"))
        server = Sshd(ports, host_pub, process)
        self.servers.append(server)
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return server

    def trust(self, server: Sshd, key_line: str | None = None) -> None:
        """Write ``server``'s host key (or another key, to fake a changed one) into known_hosts."""
        with self.known_hosts.open("a") as handle:
            for port in server.ports:
                handle.write(f"[127.0.0.1]:{port} {key_line or server.host_key_pub}\n")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _ensure_user(name: str) -> None:
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh", name], check=True)
    subprocess.run(["usermod", "-p", "*", name], check=True)  # not locked (sshd refuses locked accounts), no password


@contextmanager
def lab(root: Path) -> Iterator[Lab]:
    """Keys, test users and a sudoers rule for the ops user; everything removed afterwards."""
    user_key = root / "id_ed25519"
    pub = keygen(user_key)
    # sshd reads authorized_keys as the login user: the pytest folder (0700, root's) is out of their reach.
    public = Path(tempfile.mkdtemp(prefix="mcpfleet-keys-"))
    public.chmod(0o755)
    (public / "authorized_keys").write_text(pub + "\n")
    (public / "authorized_keys").chmod(0o644)
    for user in (OPS_USER, NOSUDO_USER):
        _ensure_user(user)
    SUDOERS_FILE.write_text(f"{OPS_USER} ALL=(root) NOPASSWD: ALL\n")
    SUDOERS_FILE.chmod(0o440)
    the_lab = Lab(root, user_key, root / "known_hosts", public / "authorized_keys")
    the_lab.known_hosts.touch()
    try:
        yield the_lab
    finally:
        the_lab.stop()
        shutil.rmtree(public, ignore_errors=True)
        SUDOERS_FILE.unlink(missing_ok=True)
        for user in (OPS_USER, NOSUDO_USER):
            subprocess.run(["userdel", user], capture_output=True)


def tagged_processes(marker: str) -> list[str]:
    """Command lines of live processes whose command line contains ``marker`` (leftover remote runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found
