"""mcptrace core: the plugin contract and the services that tie plugins together.

Importing this package runs nothing (no plugin manager, no I/O, no heavy imports): plugins import
``hookimpl`` from here at their own import time, and the CLI must start fast.
"""

import pluggy

PROJECT_NAME = "mcptrace"
ENTRY_POINT_GROUP = "mcptrace"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for plugin hook implementations: ``@hookimpl def mcptrace_backends(settings): ...``."""

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl"]
