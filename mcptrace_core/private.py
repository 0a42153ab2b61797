"""Files that hold trace output, programs or secrets are readable by their owner only.

The history database keeps captured output (secrets a traced program handled included), the audit log
keeps every program asked for, the HTTP token is a credential. Each is created 0600 in a folder that is
0700, and on start-up files and folders left more open by an older mcptrace are tightened. A folder is
tightened only when it is mcptrace's own (named after it, or created here): a history file configured
into /var/lib is protected by its own mode, and /var/lib is left alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mcptrace_core.logging import get_logger

log = get_logger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """From here on, whatever this process creates is its owner's only (0600 files, 0700 folders)."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (0700) or, when it is mcptrace's own folder, tighten it to 0700."""
    missing = not path.exists()
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if missing or "mcptrace" in path.name:
        tighten(path, DIR_MODE)
    return path


def private_file(path: Path, *siblings: str) -> None:
    """Tighten an existing file to 0600, with its folder (see ``private_dir``) and its named siblings
    (SQLite's ``-wal`` and ``-shm`` files hold the same data as the database)."""
    private_dir(path.parent)
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in siblings)):
        if candidate.exists():
            tighten(candidate, FILE_MODE)


def tighten(path: Path, mode: int) -> None:
    """Remove every permission beyond ``mode``; a path that is a symlink, or not ours, is left alone."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        if stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(info.st_mode) & mode, follow_symlinks=False)
            log.info("permissions tightened", path=str(path), mode=oct(stat.S_IMODE(info.st_mode) & mode))
    except (OSError, NotImplementedError) as error:
        log.warning("permissions not tightened", path=str(path), error=str(error))
