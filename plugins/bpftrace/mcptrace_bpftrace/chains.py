"""Chains of attempts: an assistant's successive fixes of one program, tied together by a chain_id.

The book remembers, per chain, which program (by digest) each attempt ran and how it ended, so that
resubmitting a program that already failed for a reason in the program itself is answered with the
known errors instead of running it again. Bounded: old chains are forgotten first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from mcptrace_core.models import TraceError

MAX_CHAINS = 256
MAX_ATTEMPTS = 100
DETERMINISTIC_FAILURES = frozenset({"failed", "invalid"})


@dataclass(frozen=True)
class Attempt:
    number: int
    program_sha256: str
    outcome: str
    errors: tuple[TraceError, ...] = ()
    execution_id: str | None = None


class ChainBook:
    def __init__(self) -> None:
        self._chains: OrderedDict[str, list[Attempt]] = OrderedDict()

    def begin(self, chain_id: str | None) -> tuple[str, int]:
        """The chain to use (a new one when ``chain_id`` is None or unknown here) and this attempt's number."""
        if chain_id is None:
            chain_id = "chain-" + secrets.token_hex(6)
        attempts = self._chains.get(chain_id, [])
        return chain_id, len(attempts) + 1

    def previous_failure(self, chain_id: str, program_sha256: str) -> Attempt | None:
        """The last attempt of the chain that ran this same program and failed because of the program."""
        for attempt in reversed(self._chains.get(chain_id, [])):
            if attempt.program_sha256 == program_sha256 and attempt.outcome in DETERMINISTIC_FAILURES and not (
                attempt.errors and all(error.transient for error in attempt.errors)
            ):
                return attempt
        return None

    def record(self, chain_id: str, attempt: Attempt) -> None:
        attempts = self._chains.setdefault(chain_id, [])
        attempts.append(attempt)
        del attempts[:-MAX_ATTEMPTS]
        self._chains.move_to_end(chain_id)
        while len(self._chains) > MAX_CHAINS:
            self._chains.popitem(last=False)
