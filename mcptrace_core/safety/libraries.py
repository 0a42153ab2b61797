"""What a uprobe's target really is: its real path, its SONAME, its build-id and the symbols it exports.

``uprobe:/tmp/x/libq.so:SSL_write`` attaches to libssl when ``libq.so`` is a link to it (or a copy of
it), so rules judge the object, not the name written in the program. The ELF file is read with
pyelftools (a well-kept parser of a hostile format, rather than hand-written offsets): the dynamic
section for the SONAME, the GNU build-id note, and symbol lookups through the ``.gnu.hash`` table (one
probe per name, however many symbols the library has), falling back to a bounded scan of
``.dynsym``/``.symtab`` for objects without one. Results are cached per file identity (device, inode,
size, modification time), so a changed file is read again.
"""

from __future__ import annotations

import glob
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from mcptrace_core.safety.paths import resolve_path

LIBRARY_DIRS = (
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
    "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
)
"""Where a short library name (``uprobe:libssl:...``) is looked for, as the dynamic loader's cache lists."""
MAX_SCANNED_SYMBOLS = 500_000
MAX_FILE_BYTES = 2 << 30
CACHE_ENTRIES = 256
LOCATE_TTL_S = 5.0
"""How long a short library name's lookup in the system library directories is trusted."""


@dataclass(frozen=True)
class ObjectIdentity:
    """A uprobe target as the kernel will see it."""

    written: str
    path: str | None = None
    """The real path (links resolved); None when the target cannot be found or resolved."""
    soname: str | None = None
    build_id: str | None = None
    exported: frozenset[str] = field(default_factory=frozenset)
    """Which of the names asked about the object defines (exports, or has in its symbol table)."""
    problem: str | None = None
    """Why the object could not be read (missing, not ELF, unreadable)."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the object goes by: as written, its real file name, its SONAME."""
        found = [os.path.basename(self.written)]
        if self.path:
            found.append(os.path.basename(self.path))
        if self.soname:
            found.append(self.soname)
        return tuple(dict.fromkeys(found))


class ObjectIdentifier:
    """Identifies uprobe targets, remembering what it read per file identity.

    Rules that share one identifier share its reads: ``always`` names the symbols every read looks up,
    so that the first rule's read answers the others' questions too (each file is parsed once).
    """

    def __init__(self, entries: int = CACHE_ENTRIES, always: Iterable[str] = ()) -> None:
        self._entries = entries
        self._always = frozenset(always)
        self._cache: OrderedDict[tuple[object, ...], tuple[frozenset[str], ObjectIdentity]] = OrderedDict()
        self._located: OrderedDict[str, tuple[float, str | None, str | None]] = OrderedDict()

    def identify(self, target: str, symbols: Iterable[str] = ()) -> ObjectIdentity:
        """Who ``target`` is, and which of ``symbols`` it defines."""
        wanted = frozenset(symbols)
        path, problem = self._locate(target)
        if path is None:
            return ObjectIdentity(target, problem=problem)
        try:
            info = os.stat(path)
        except OSError as error:
            return ObjectIdentity(target, path, problem=f"cannot be read: {error.strerror}")
        key = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        looked_up, cached = self._cache.get(key, (frozenset(), None))
        if cached is None or not wanted <= looked_up:
            looked_up = looked_up | wanted | self._always
            cached = _read(path, looked_up, info.st_size)
            self._cache[key] = (looked_up, cached)
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return ObjectIdentity(target, cached.path, cached.soname, cached.build_id, cached.exported & wanted,
                              cached.problem)


    def _locate(self, target: str) -> tuple[str | None, str | None]:
        """``locate``; a short name's lookup (a glob over root-owned library directories) is remembered for
        LOCATE_TTL_S, a path is resolved every time (its links may be anyone's)."""
        if "/" in target:
            return locate(target)
        now = time.monotonic()
        remembered = self._located.get(target)
        if remembered is not None and now - remembered[0] < LOCATE_TTL_S:
            return remembered[1], remembered[2]
        path, problem = locate(target)
        self._located[target] = (now, path, problem)
        self._located.move_to_end(target)
        while len(self._located) > self._entries:
            self._located.popitem(last=False)
        return path, problem


def locate(target: str) -> tuple[str | None, str | None]:
    """(real path, None) of a uprobe target, or (None, why not): a path is resolved, a short name is looked
    up as the dynamic loader would (``libssl`` -> ``libssl.so.3``)."""
    if "/" in target:
        resolved = resolve_path(target)
        if resolved.path is None:
            return None, resolved.reason
        return (resolved.path, None) if os.path.exists(resolved.path) else (None, f"{resolved.path} does not exist")
    stem = target if target.startswith("lib") else f"lib{target}"
    for directory in LIBRARY_DIRS:
        for candidate in sorted(glob.glob(os.path.join(glob.escape(directory), glob.escape(stem) + ".so*"))):
            resolved = resolve_path(candidate)
            if resolved.path and os.path.isfile(resolved.path) and _is_elf(resolved.path):
                return resolved.path, None
    return None, f"no library called {target} in the loader's directories"


def _is_elf(path: str) -> bool:
    """Whether the file starts as an ELF object does; ``libc.so`` of a -dev package is a linker script,
    which the loader (and bpftrace) never map: the library is the ``libc.so.6`` after it."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def _read(path: str, wanted: frozenset[str], size: int) -> ObjectIdentity:
    from elftools.common.exceptions import ELFError  # loaded when the first uprobe is judged
    from elftools.elf.elffile import ELFFile

    if size > MAX_FILE_BYTES:
        return ObjectIdentity(path, path, problem="too large to read")
    try:
        with open(path, "rb") as handle:
            elf = ELFFile(handle)
            return ObjectIdentity(path, path, _soname(elf), _build_id(elf), _defined(elf, wanted))
    except (ELFError, OSError, ValueError, KeyError, AssertionError) as error:
        return ObjectIdentity(path, path, problem=f"not a readable ELF object ({type(error).__name__})")


def _soname(elf: object) -> str | None:
    dynamic = elf.get_section_by_name(".dynamic")  # type: ignore[attr-defined]
    if dynamic is None:
        return None
    for tag in dynamic.iter_tags():
        if tag.entry.d_tag == "DT_SONAME":
            return str(tag.soname)
    return None


def _build_id(elf: object) -> str | None:
    for section in elf.iter_sections():  # type: ignore[attr-defined]
        if section.header["sh_type"] == "SHT_NOTE":
            for note in section.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    return str(note["n_desc"])
    return None


def _defined(elf: object, wanted: frozenset[str]) -> frozenset[str]:
    """Which ``wanted`` names the object defines: hash lookups where it has a .gnu.hash, else a bounded scan."""
    if not wanted:
        return frozenset()
    found: set[str] = set()
    hashed = elf.get_section_by_name(".gnu.hash")  # type: ignore[attr-defined]
    if hashed is not None:
        for name in wanted:
            symbol = hashed.get_symbol(name)
            if symbol is not None and symbol["st_shndx"] != "SHN_UNDEF":
                found.add(name)
    scanned = 0
    for table in (".symtab",) if hashed is not None else (".dynsym", ".symtab"):
        section = elf.get_section_by_name(table)  # type: ignore[attr-defined]
        if section is None:
            continue
        for symbol in section.iter_symbols():
            scanned += 1
            if scanned > MAX_SCANNED_SYMBOLS:
                break
            if symbol.name in wanted and symbol["st_shndx"] != "SHN_UNDEF":
                found.add(symbol.name)
    return frozenset(found)
