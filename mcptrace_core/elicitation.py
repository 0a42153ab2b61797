"""Ask the user (not the model) to confirm, through MCP elicitation, in both protocol families.

Up to 2025-11-25 the server sends ``elicitation/create`` in the middle of the tool call and waits for
the answer. From 2026-07-28 a tool call that needs an answer returns an ``InputRequiredResult``; the
client asks the user and calls the tool again with the answer and the ``request_state`` it was given.
The tool then runs again from the start (its validation is deterministic, so it reaches the same
question) and finds the answer waiting.

Fail closed everywhere: a client without the elicitation capability, an error, a timeout, a decline,
a cancel, an answer to a question that was never asked (its ``request_state`` does not carry this
server's seal for it) all mean "not confirmed".
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import mcp_types as types
from mcp_types.version import is_version_at_least

from mcptrace_core.logging import get_logger

log = get_logger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"
CONFIRM_FIELD = "run"
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        CONFIRM_FIELD: {
            "type": "boolean",
            "title": "Run this program",
            "description": "Yes runs the program as shown, as root, on this host.",
        }
    },
    "required": [CONFIRM_FIELD],
}


class InputRequired(Exception):
    """The tool call must end with this InputRequiredResult; the client answers and calls again."""

    def __init__(self, result: types.InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


def question_key(message: str) -> str:
    """A stable name for a question: the same program and findings give the same key in every round."""
    return "confirm-" + hashlib.sha256(message.encode("utf-8")).hexdigest()[:24]


class McpConfirmer:
    """``await confirmer(message)`` asks the user of one tool call; True only for an explicit yes."""

    def __init__(self, ctx: Any, params: types.CallToolRequestParams, secret: bytes) -> None:
        self._ctx = ctx
        self._params = params
        self._secret = secret

    async def __call__(self, message: str) -> bool:
        if not self._client_can_elicit():
            log.info("confirmation impossible: the client has no elicitation capability")
            return False
        if is_version_at_least(self._ctx.protocol_version, INPUT_REQUIRED_VERSION):
            return self._answer_or_ask(question_key(message), message)
        try:
            result = await self._ctx.session.elicit_form(message, CONFIRM_SCHEMA, related_request_id=self._ctx.request_id)
        except Exception as error:  # the client failed to answer: not a confirmation
            log.warning("elicitation failed", error=f"{type(error).__name__}: {error}")
            return False
        return _is_yes(result)

    def _client_can_elicit(self) -> bool:
        capabilities = self._ctx.session.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
        return elicitation is not None and (elicitation.form is not None or elicitation.url is None)

    def _answer_or_ask(self, key: str, message: str) -> bool:
        answer = (self._params.input_responses or {}).get(key)
        if answer is not None and self._sealed(key, self._params.request_state):
            return _is_yes(answer)
        request = types.ElicitRequest(
            params=types.ElicitRequestFormParams(message=message, requested_schema=CONFIRM_SCHEMA)
        )
        raise InputRequired(types.InputRequiredResult(input_requests={key: request}, request_state=self._seal(key)))

    def _seal(self, key: str) -> str:
        return f"{key}.{hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()}"

    def _sealed(self, key: str, state: str | None) -> bool:
        return state is not None and hmac.compare_digest(state, self._seal(key))


def _is_yes(answer: Any) -> bool:
    return (
        isinstance(answer, types.ElicitResult)
        and answer.action == "accept"
        and (answer.content or {}).get(CONFIRM_FIELD) is True
    )
