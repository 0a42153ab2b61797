"""User packs: example packs kept in the user data directory (``mcptrace examples import`` writes them).

Every sub-directory of ``<user data dir>/packs`` that holds a pack.toml is a pack. This module is also
the plugin (entry point ``user-examples``) that contributes them; a pack that cannot be read is logged
and skipped, the others still load.
"""

from __future__ import annotations

from pathlib import Path

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.logging import get_logger
from mcptrace_core.packs.loader import PACK_FILE, PackLoadError, TomlExamplePack

log = get_logger(__name__)


def user_packs_dir() -> Path:
    """Where user packs live: ``$XDG_DATA_HOME/mcptrace/packs`` (usually ~/.local/share/mcptrace/packs)."""
    from platformdirs import user_data_path

    return user_data_path("mcptrace") / "packs"


def load_user_packs(root: Path) -> list[TomlExamplePack]:
    packs = []
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        if not (directory / PACK_FILE).is_file():
            continue
        try:
            packs.append(TomlExamplePack(directory))
        except PackLoadError as error:
            log.error("user pack skipped", directory=str(directory), problem=str(error))
    return packs


@hookimpl
def mcptrace_example_packs() -> list[ExamplePack]:
    return list(load_user_packs(user_packs_dir()))
