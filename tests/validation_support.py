"""Helpers shared by the validation and safety tests: services with chosen settings, an MCP client on them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types

from mcptrace_core.config import Settings, load_settings
from mcptrace_core.services import Services


def settings_with(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """Defaults plus ``sections``; the audit log goes to tmp_path/audit.jsonl unless given."""
    safety = {"audit_log": str(tmp_path / "audit.jsonl"), **sections.pop("safety", {})}
    return load_settings(tmp_path / "absent.toml", {"safety": safety, **sections})


@asynccontextmanager
async def mcp_client(settings: Settings, mode: str = "legacy", elicitation_callback: Any = None
                     ) -> AsyncIterator[tuple[Any, Services]]:
    """A real MCP client (legacy JSON-RPC or the modern per-request protocol) on a server with ``settings``."""
    from mcp import Client

    from mcptrace_core.server import build_server

    services = Services.create(settings)
    try:
        async with Client(build_server(services), mode=mode, elicitation_callback=elicitation_callback) as client:
            yield client, services
    finally:
        await services.aclose()


def answering(run: bool | None, asked: list[str]) -> Any:
    """An elicitation callback that records each question and answers yes (True), no (False) or declines (None)."""

    async def callback(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if run is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"run": run})

    return callback


def audit_events(settings: Settings) -> list[dict[str, Any]]:
    path = settings.safety.audit_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
