"""The audit log: one JSON line per decision about running a program, appended to a file.

Written with structlog to its own file (never stdout, which carries the MCP protocol, and apart from
the diagnostic log, which an operator may silence). The file is created readable by its owner only,
since it holds the programs that were asked for.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import structlog

from mcptrace_core.logging import get_logger
from mcptrace_core.private import private_dir

log = get_logger(__name__)


def program_digest(program: str) -> str:
    return hashlib.sha256(program.encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only JSON lines; each write opens, appends and closes, so rotation needs no signal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        """Append one decision. A log that cannot be written is reported on stderr, not raised: the
        decision itself stands (a refused run stays refused)."""
        try:
            private_dir(self.path.parent)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with self._lock, os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                logger = structlog.wrap_logger(
                    structlog.WriteLogger(handle),
                    wrapper_class=structlog.BoundLogger,  # never filtered by the diagnostic log's level
                    processors=[
                        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
                        _time_and_event_first,
                        structlog.processors.JSONRenderer(sort_keys=False),
                    ],
                )
                logger.msg(event, **fields)
        except OSError as error:
            log.error("audit log not written", path=str(self.path), error=str(error), audit_event=event)


def _time_and_event_first(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {"time": event_dict.pop("time"), "event": event_dict.pop("event"), **event_dict}
