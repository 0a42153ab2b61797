"""structlog setup. Logs go to stderr only: under `serve`, stdout carries the MCP protocol."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: Literal["auto", "json", "console"] = "auto", *, serving: bool = False) -> None:
    """Send structlog (and the standard library's logging, which the MCP SDK uses) to stderr.

    ``auto`` means JSON lines while serving (machine-read by MCP clients' log panes) and readable
    lines in an interactive command.
    """
    use_json = fmt == "json" or (fmt == "auto" and serving)
    renderer = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [logging.StreamHandler(sys.stderr)]
    # The SDK logs every request at INFO; keep it quiet unless debugging mcptrace itself.
    root.setLevel(_LEVELS[level] if level == "debug" else logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
