"""Facts measured on this host, kept on disk until what they depend on changes.

Measuring what works here (trial runs of probe types, of BCC tools) takes seconds, while the answer
only changes with a reboot, an upgrade or a different privilege. So each measurement is stored as a
JSON file next to the key it was measured under; a reader gets it back only while the key is equal.
Keys usually include ``boot_id()``, which changes on every boot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcptrace_core.logging import get_logger

log = get_logger(__name__)


def boot_id() -> str:
    """An id the kernel draws anew at each boot; 'unknown' where /proc does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown"


def cache_dir() -> Path:
    """mcptrace's folder in the user cache directory (XDG_CACHE_HOME)."""
    from platformdirs import user_cache_path

    return user_cache_path("mcptrace")


class KeyedJsonCache:
    """One JSON document on disk, valid only under the key it was saved with."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, key: Any) -> Any | None:
        """The saved data when it was saved under ``key``; None when absent, unreadable or stale."""
        stored = self._read()
        return stored.get("data") if stored is not None and stored.get("key") == _normalised(key) else None

    def load_stale(self) -> Any | None:
        """The saved data whatever its key: a last-known answer for when measuring now is too slow."""
        stored = self._read()
        return stored.get("data") if stored is not None else None

    def _read(self) -> dict[str, Any] | None:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) else None

    def save(self, key: Any, data: Any) -> None:
        """Write atomically (a reader never sees half a file); a failure to write is only logged."""
        payload = json.dumps({"key": key, "data": data})
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(payload, encoding="utf-8")
            temporary.replace(self.path)
        except OSError as error:
            log.warning("cache not written", path=str(self.path), error=str(error))


def _normalised(key: Any) -> Any:
    """The key as it reads back from JSON (tuples become lists), so equal keys compare equal."""
    return json.loads(json.dumps(key))
