"""Shared fixtures. Tests run real bpftrace where they need it; without root or bpftrace they skip and say so."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcptrace_core.config import Settings, load_settings
from mcptrace_core.services import Services

HAVE_BPFTRACE = shutil.which("bpftrace") is not None or Path("/usr/sbin/bpftrace").exists()
IS_ROOT = os.geteuid() == 0

requires_bpftrace = pytest.mark.skipif(
    not (HAVE_BPFTRACE and IS_ROOT),
    reason="needs root and bpftrace (.ci/run installs bpftrace and runs as root)",
)


def libbpf_tool(name: str) -> str | None:
    """The path of a libbpf-tools build by its plain name: /usr/sbin/runqlat (Debian 12) or
    /usr/sbin/runqlat-libbpf (Debian 13)."""
    for candidate in (name, f"{name}-libbpf"):
        path = shutil.which(candidate, path="/usr/sbin:/usr/bin")
        if path:
            return path
    return None


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep tests away from the user's config and data; share one cache so probe types are measured once."""
    base = tmp_path_factory.mktemp("xdg")
    saved = {key: os.environ.get(key) for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                                  "XDG_STATE_HOME", "MCPTRACE_CONFIG")}
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")
    os.environ["XDG_DATA_HOME"] = str(base / "data")
    os.environ["XDG_CACHE_HOME"] = str(base / "cache")
    os.environ["XDG_STATE_HOME"] = str(base / "state")  # the audit log
    os.environ.pop("MCPTRACE_CONFIG", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Defaults, read through the real loader from a config file that does not exist."""
    return load_settings(tmp_path / "absent.toml")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Every plugin installed in the `mcptrace` entry-point group, as `mcptrace serve` loads them."""
    created = Services.create(settings)
    yield created
    await created.aclose()


@pytest.fixture
async def client(services: Services):  # type: ignore[no-untyped-def]
    """A real MCP client session over JSON-RPC memory streams (mode='legacy') against our server."""
    from mcp import Client

    from mcptrace_core.server import build_server

    async with Client(build_server(services), mode="legacy") as session:
        yield session
