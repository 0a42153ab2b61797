"""Example packs: the TOML pack format, its loader and the packs every installation has.

A third-party pack is a package holding ``pack.toml`` and ``examples/**/*.toml`` plus a plugin module::

    from mcptrace_core import hookimpl
    from mcptrace_core.packs import TomlExamplePack

    @hookimpl
    def mcptrace_example_packs():
        return [TomlExamplePack.from_package("my_pack")]

registered in the ``mcptrace`` entry-point group. ``mcptrace examples check DIR`` reports every problem
of a pack with the file and field; docs/schemas/ has the JSON schemas of both file kinds.
"""

from mcptrace_core.packs.loader import PackLoadError, PackMetadata, TomlExamplePack, check_pack

__all__ = ["PackLoadError", "PackMetadata", "TomlExamplePack", "check_pack"]
