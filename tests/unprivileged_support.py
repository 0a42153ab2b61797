"""A real user who is not root, with mcptrace installed where that user can run it.

MCP clients run mcptrace as the person using them, so these fixtures build exactly that: a fresh user
(``useradd``; removed afterwards, with any sudoers rule written for it), and a virtual environment in a
world-readable folder holding this checkout (``pip install --no-deps`` of a copy of it) on top of the
dependencies the tests already run with. Folders on the way to the interpreter that others may not enter
(pyenv under /root, a CI checkout under /root) get o+x (enter, not list) for the duration, and their mode
back afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mcp import StdioServerParameters

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("useradd", "userdel", "setpriv", "sudo", "visudo")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path
    mcptrace: str
    """The mcptrace command this user runs (in the world-readable virtual environment)."""

    def environment(self) -> dict[str, str]:
        """What a login would give the user: no root paths, no test XDG folders, no MCPTRACE_* settings."""
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "LANG": "C.UTF-8",
                "PATH": "/usr/local/bin:/usr/bin:/bin"}

    def argv(self, *command: str) -> list[str]:
        """``command`` run as this user (setpriv drops to the user's ids; no shell in between)."""
        return [shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                "--init-groups", "--", *command]

    def run(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``mcptrace ARGUMENTS`` as this user, from its home folder."""
        return subprocess.run(self.argv(self.mcptrace, *arguments), capture_output=True, text=True,
                              env=self.environment(), cwd=self.home, timeout=timeout, check=False)

    def server(self) -> StdioServerParameters:
        """`mcptrace serve` as this user, for an MCP client over stdio."""
        argv = self.argv(self.mcptrace, "serve")
        return StdioServerParameters(command=argv[0], args=argv[1:], env=self.environment(), cwd=str(self.home))

    @property
    def config(self) -> Path:
        return self.home / ".config" / "mcptrace" / "config.toml"


@contextmanager
def enterable(paths: list[Path]) -> Iterator[None]:
    """Give others o+x on every folder above ``paths`` that lacks it; put the modes back afterwards."""
    changed: dict[Path, int] = {}
    for path in paths:
        for folder in [path, *path.parents]:
            if folder in changed or not folder.is_dir():
                continue
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                changed[folder] = stat.S_IMODE(mode)
                os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            os.chmod(folder, mode)


def _dependency_dirs() -> list[str]:
    """Where this test run finds its dependencies (a CI venv, or the base interpreter's site-packages)."""
    found = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(path for path in found if Path(path).is_dir()))


@contextmanager
def installed_mcptrace() -> Iterator[Path]:
    """A virtual environment readable by everyone with this checkout installed; yields its mcptrace."""
    base = Path(tempfile.mkdtemp(prefix="mcptrace-user-"))
    try:
        os.chmod(base, 0o755)
        source = base / "src"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", ".ci", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache",
            ".hypothesis", "benchmarks",
        ))
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True, capture_output=True)
        python = venv / "bin" / "python"
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        # After the environment's own folder: this run's dependencies (pip itself among them).
        Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(_dependency_dirs()) + "\n")
        # --ignore-installed: never uninstall the mcptrace this test run itself imports.
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
             "--disable-pip-version-check", str(source)],
            capture_output=True, text=True, check=False, timeout=600,
        )
        assert result.returncode == 0, f"installing mcptrace for the test user failed: {result.stderr[-2000:]}"
        shutil.rmtree(source)
        for root, folders, files in os.walk(venv):  # readable by everyone, whatever root's umask was
            for name in folders:
                os.chmod(Path(root, name), 0o755)
            for name in files:
                path = Path(root, name)
                if not path.is_symlink():
                    os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
        interpreter = Path(os.path.realpath(python))
        with enterable([interpreter.parent, Path(sys.base_prefix).resolve(), *map(Path, _dependency_dirs())]):
            yield venv / "bin" / "mcptrace"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def new_user(mcptrace: Path) -> Iterator[User]:
    """A fresh user who is not root; removed afterwards with its home and any sudoers rule for it."""
    name = "mcpt" + uuid.uuid4().hex[:8]
    home = Path(tempfile.mkdtemp(prefix="mcptrace-home-"))
    os.rmdir(home)  # useradd -m makes it, owned by the user
    subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/sh", name], check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield User(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=home, mcptrace=str(mcptrace))
    finally:
        Path("/etc/sudoers.d", f"mcptrace-{name}").unlink(missing_ok=True)
        subprocess.run(["userdel", "-r", "-f", name], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
