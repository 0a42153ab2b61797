"""Find the BCC tools installed on this host, without running any of them.

- libbpf-tools (CO-RE): the file list of the Debian package, since their names alone do not tell them
  from other programs in /usr/sbin. Debian 12 installs them under plain names (/usr/sbin/execsnoop),
  Debian 13 as /usr/sbin/execsnoop-libbpf.
- The Python BCC tools: ``/usr/sbin/*-bpfcc`` (Debian/Ubuntu bpfcc-tools) and /usr/share/bcc/tools
  (upstream installs, Fedora, RHEL).
- Every executable in the folders of ``bcc.tool_dirs``.

The first tool found under a name wins, so a name always means one file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mcptrace_bcc.schema import ToolKind

DPKG_INFO = Path("/var/lib/dpkg/info")
LIBBPF_PACKAGE_LISTS = ("libbpf-tools.list", "libbpf-tools:*.list")
PYTHON_GLOBS = ("/usr/sbin/*-bpfcc", "/usr/share/bcc/tools/*")
PYTHON_SUFFIX = "-bpfcc"
LIBBPF_SUFFIX = "-libbpf"
BUILD_SUFFIXES = (LIBBPF_SUFFIX, PYTHON_SUFFIX)
"""The suffixes distributions add to tell a tool's builds apart; the plain name means the tool."""


@dataclass(frozen=True)
class ToolFile:
    """An installed tool: its command name, where it is, what kind it is, and its file identity."""

    name: str
    path: str
    kind: ToolKind
    script: bool
    """A script (Python or shell) rather than a compiled program."""
    mtime_ns: int
    size: int

    @property
    def base_name(self) -> str:
        """The name without a build suffix: execsnoop-bpfcc, execsnoop-libbpf and execsnoop are 'execsnoop'."""
        return base_name(self.name)

    @property
    def fingerprint(self) -> list[object]:
        """Changes when the file is replaced (upgrade), so cached facts about it are dropped."""
        return [self.path, self.mtime_ns, self.size]


def base_name(name: str) -> str:
    for suffix in BUILD_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name


def build_names(name: str) -> tuple[str, ...]:
    """The names a tool may be installed under, the CO-RE build first: runqlat, runqlat-libbpf, runqlat-bpfcc."""
    base = base_name(name)
    return (base, *(base + suffix for suffix in BUILD_SUFFIXES))


def discover(extra_dirs: Iterable[str] = ()) -> list[ToolFile]:
    """Every installed tool, libbpf ones first, sorted by name within each source."""
    found: dict[str, ToolFile] = {}
    sources = [
        _from_paths(_libbpf_package_files(), "libbpf"),
        _from_paths(sorted(path for pattern in PYTHON_GLOBS for path in glob.glob(pattern)), "bcc-python"),
        *(_from_paths(sorted(str(path) for path in Path(folder).iterdir()), None) for folder in extra_dirs
          if Path(folder).is_dir()),
    ]
    for source in sources:
        for tool in source:
            found.setdefault(tool.name, tool)
    return list(found.values())


def _libbpf_package_files() -> list[str]:
    paths: set[str] = set()
    for pattern in LIBBPF_PACKAGE_LISTS:
        for listing in DPKG_INFO.glob(pattern):
            try:
                lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            paths.update(line for line in lines if os.path.dirname(line) in ("/usr/sbin", "/usr/bin"))
    return sorted(paths)


def _from_paths(paths: Iterable[str], kind: ToolKind | None) -> Iterator[ToolFile]:
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        script = kind == "bcc-python" if kind is not None else _is_script(path)
        name = os.path.basename(path)
        yield ToolFile(
            # Listed by its plain name wherever the package installs it (runqlat-libbpf is runqlat).
            name=name.removesuffix(LIBBPF_SUFFIX) if kind == "libbpf" and name != LIBBPF_SUFFIX else name,
            path=path,
            kind=kind or ("bcc-python" if script else "libbpf"),
            script=script,
            mtime_ns=stat.st_mtime_ns,
            size=stat.st_size,
        )


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def is_python(tool: ToolFile) -> bool:
    """A Python script, whose source may be read for its header comment."""
    try:
        with open(tool.path, "rb") as handle:
            return b"python" in handle.readline(200)
    except OSError:
        return False


def compiles_bpf(tool: ToolFile) -> bool:
    """Whether the tool compiles a BPF program at run time (needing kernel headers).

    Python tools do when they construct a ``BPF(...)`` object; the few that only list things (tplist,
    bpflist) do not. Shell wrappers run the language tools (ucalls, uflow, ...), which do.
    """
    if not is_python(tool):
        return tool.kind == "bcc-python"
    try:
        with open(tool.path, "rb") as handle:
            return b"BPF(" in handle.read(512 * 1024)
    except OSError:
        return True


def kernel_headers_present() -> bool:
    """The running kernel's headers, where BCC looks for them (or the in-kernel kheaders archive)."""
    release = os.uname().release
    return any(Path(path).exists() for path in (
        f"/lib/modules/{release}/build", f"/lib/modules/{release}/source", "/sys/kernel/kheaders.tar.xz",
    ))
