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
