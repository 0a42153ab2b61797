"""uprobe targets are identified by what they are: real ELF files on this host, links and copies included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcptrace_core.safety.libraries import ObjectIdentifier, locate

LIBSSL = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libssl.so.*"))
requires_libssl = pytest.mark.skipif(not LIBSSL, reason="libssl is not installed")


@requires_libssl
def test_a_renamed_link_to_libssl_is_libssl(tmp_path: Path) -> None:
    (tmp_path / "libq.so").symlink_to(LIBSSL[0])
    identity = ObjectIdentifier().identify(str(tmp_path / "libq.so"), {"SSL_write", "malloc", "no_such_symbol"})
    assert identity.path == str(LIBSSL[0].resolve())
    assert identity.soname and identity.soname.startswith("libssl.so")
    assert identity.exported == {"SSL_write"}  # malloc is imported from libc, not defined here
    assert identity.build_id and len(identity.build_id) >= 32
    assert "libq.so" in identity.names and identity.soname in identity.names


@requires_libssl
def test_a_short_name_is_found_as_the_loader_would() -> None:
    path, problem = locate("libssl")
    assert problem is None and path is not None and Path(path).name.startswith("libssl.so")
    assert locate("libno-such-library-here") == (None, "no library called libno-such-library-here in the loader's "
                                                 "directories")


def test_a_copy_has_the_build_id_of_its_original(tmp_path: Path) -> None:
    original = shutil.which("sudo") or shutil.which("bash")
    assert original
    shutil.copyfile(original, tmp_path / "renamed")
    identifier = ObjectIdentifier()
    assert identifier.identify(str(tmp_path / "renamed")).build_id == identifier.identify(original).build_id


def test_what_is_not_elf_is_a_problem_not_an_identity(tmp_path: Path) -> None:
    (tmp_path / "lib.so").write_text("not an ELF file")
    identity = ObjectIdentifier().identify(str(tmp_path / "lib.so"), {"SSL_write"})
    assert identity.problem and not identity.exported
    assert ObjectIdentifier().identify(str(tmp_path / "missing.so")).problem


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    """The cache keys on the file's identity: replacing the file (another inode) is seen at once."""
    identifier = ObjectIdentifier()
    target = tmp_path / "lib.so"
    target.write_text("not an ELF file")
    assert identifier.identify(str(target)).problem
    bash = shutil.which("bash")
    assert bash
    replacement = tmp_path / "new"
    shutil.copyfile(bash, replacement)
    replacement.replace(target)
    assert identifier.identify(str(target)).problem is None


def test_rules_sharing_an_identifier_read_each_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One read answers every rule's question (each asks about its own symbols); each gets only its answer."""
    from mcptrace_core.safety import libraries

    path, problem = locate("libc")
    assert path is not None, problem
    reads: list[frozenset[str]] = []
    real_read = libraries._read

    def counted(*arguments: object) -> object:
        reads.append(arguments[1])  # type: ignore[arg-type]
        return real_read(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(libraries, "_read", counted)
    shared = ObjectIdentifier(always={"malloc", "SSL_write", "getpwnam"})
    assert shared.identify(path, {"malloc", "SSL_write"}).exported == {"malloc"}
    assert shared.identify(path, {"getpwnam"}).exported == {"getpwnam"}
    assert len(reads) == 1
    assert shared.identify(path, {"free"}).exported == {"free"}  # a name no read asked about: read again
    assert len(reads) == 2 and {"free", "malloc", "getpwnam"} <= reads[-1]


def test_a_short_name_is_the_shared_object_not_a_linker_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A -dev package's libX.so may be a GNU ld script (libc.so is); the library is the ELF object."""
    from mcptrace_core.safety import libraries

    real, _ = locate("libc")
    assert real is not None
    (tmp_path / "libmcpq.so").write_text("/* GNU ld script */\nGROUP ( libmcpq.so.1 )\n")
    shutil.copy(real, tmp_path / "libmcpq.so.1")
    monkeypatch.setattr(libraries, "LIBRARY_DIRS", (str(tmp_path),))
    assert locate("libmcpq") == (str(tmp_path / "libmcpq.so.1"), None)
    assert "malloc" in ObjectIdentifier().identify("mcpq", {"malloc"}).exported
