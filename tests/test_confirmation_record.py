"""A confirmation is kept in the history with who gave it, through which client and over which transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import requires_bpftrace
from tests.validation_support import answering, mcp_client, settings_with

pytestmark = [pytest.mark.anyio, requires_bpftrace]

UNSAFE = 'BEGIN { system("echo confirmed-run"); exit(); }'


async def _confirmed_by(settings, answer_with):  # type: ignore[no-untyped-def]
    asked: list[str] = []
    async with mcp_client(settings, "legacy", answering(answer_with, asked)) as (client, services):
        arguments = {"program": UNSAFE, "wait": True, "confirm": settings.safety.level == "permissive"}
        result = await client.call_tool("exec_program", arguments)
        assert not result.is_error, result.content
        assert services.history.flush()  # the record is written by the store's background thread
        record = services.history.load(result.structured_content["execution_id"])
    assert record is not None
    return record.confirmed_by, asked


async def test_a_users_confirmation_names_the_client_and_the_transport(tmp_path: Path) -> None:
    confirmed_by, asked = await _confirmed_by(settings_with(tmp_path, history={"path": str(tmp_path / "h.db")}), True)
    assert len(asked) == 1
    # The in-memory test client announces itself as the SDK's default client ("mcp").
    assert confirmed_by is not None and confirmed_by.startswith("user (elicitation) via mcp")
    assert confirmed_by.endswith("over stdio")


async def test_a_models_confirmation_under_the_permissive_policy_is_recorded_as_the_models(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, safety={"level": "permissive"}, history={"path": str(tmp_path / "h.db")})
    confirmed_by, asked = await _confirmed_by(settings, False)
    assert asked == [] and confirmed_by is not None
    assert confirmed_by.startswith("model (confirm argument") and "over stdio" in confirmed_by
