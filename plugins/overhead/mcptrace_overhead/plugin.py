"""The overhead plugin's hooks: a run watcher that measures every run and enforces its budget."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.config import Settings

from mcptrace_overhead.monitor import OverheadWatcher


@hookimpl
def mcptrace_run_watchers(settings: Settings) -> list[OverheadWatcher]:
    return [OverheadWatcher(settings.overhead)]
