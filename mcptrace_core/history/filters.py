"""The filters shared by search_history and `mcptrace history`: status, failures, time range."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from mcptrace_core.history.records import UNSUCCESSFUL

TIME_RANGE = re.compile(r"^(\d{1,6})([mhdw])$")
TIME_RANGE_HELP = "the last N minutes/hours/days/weeks, e.g. '30m', '24h', '7d', '4w'"
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time_range(text: str) -> float:
    """Seconds in a range such as '24h'; ValueError naming the accepted forms otherwise."""
    match = TIME_RANGE.match(text.strip())
    if not match:
        raise ValueError(f"time range {text!r} is not {TIME_RANGE_HELP}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    include_failed: bool = True
    """False leaves out runs that did not succeed (failed, killed, interrupted) and refused attempts."""
    time_range: str | None = None

    def __post_init__(self) -> None:
        if self.status in UNSUCCESSFUL and not self.include_failed:
            raise ValueError(f"status {self.status!r} contradicts include_failed=false: drop one of them")
        if self.time_range is not None:
            parse_time_range(self.time_range)

    def since(self) -> float | None:
        """The earliest start time the filter admits, if it has a time range."""
        return time.time() - parse_time_range(self.time_range) if self.time_range is not None else None

    def where(self, table: str = "runs") -> tuple[str, list[Any]]:
        """An SQL condition on ``table`` and its parameters ('1' when nothing is filtered)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.status is not None:
            clauses.append(f"{table}.status = ?")
            params.append(self.status)
        if not self.include_failed:
            clauses.append(f"{table}.status NOT IN ({', '.join('?' * len(UNSUCCESSFUL))})")
            params.extend(UNSUCCESSFUL)
        since = self.since()
        if since is not None:
            clauses.append(f"{table}.started_at >= ?")
            params.append(since)
        return (" AND ".join(clauses) or "1"), params
