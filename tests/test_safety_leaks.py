"""Planted secrets never leak without confirmation: real runs through exec_program at every level.

Each case plants a 0600 file with a random marker (tests/safety_hostile.plant) and asks for it the ways an
attacker would. No run without the user's confirmation may print the marker, in its output, its errors,
its validation or the refusal. A control run, confirmed under the permissive policy, shows the marker
does reach the output when a run is really allowed to read the file (so the absence means something).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.services import Services
from mcptrace_core.tools import ToolError, invoke
from tests.conftest import requires_bpftrace
from tests.safety_hostile import Planted, plant

pytestmark = [pytest.mark.anyio, requires_bpftrace]

SECRET_CASES = {
    "cat": 'BEGIN {{ cat("{planted}"); exit(); }}',
    "cat-through-link": 'BEGIN {{ cat("{planted_link}"); exit(); }}',
    "cat-through-proc-root": 'BEGIN {{ cat("/proc/self/root{planted}"); exit(); }}',
    "cat-through-proc-1-root": 'BEGIN {{ cat("/proc/1/root{planted}"); exit(); }}',
    "cat-with-dotdot": 'BEGIN {{ cat("/tmp/../{planted}"); exit(); }}',
    "cat-by-format": 'BEGIN {{ cat("%s", "{planted}"); exit(); }}',
    "cat-relative": 'BEGIN {{ cat("{relative}"); exit(); }}',
    "include": '#include "{planted}"\nBEGIN {{ exit(); }}',
    "include-climbing": "#include <../../../../../..{planted}>\nBEGIN {{ exit(); }}",
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return plant(tmp_path_factory.mktemp("leaks"))


def _program(case: str, planted: Planted) -> str:
    values = {**planted.values, "relative": "../" * 12 + planted.values["planted"].lstrip("/")}
    return SECRET_CASES[case].format(**values)


async def _run(tmp_path: Path, level: str, program: str, confirm: bool = False) -> str:
    """Everything a caller gets back from exec_program (and get_result), as one text."""
    loaded = load_settings(tmp_path / "absent.toml")
    settings = loaded.model_copy(update={"safety": loaded.safety.model_copy(update={"level": level})})
    services = Services.create(settings)
    try:
        try:
            result: Any = await invoke(services, services.registry.get("tool", "exec_program"),
                                       {"program": program, "timeout_s": 20, "wait": True, "confirm": confirm})
        except ToolError as refused:
            return f"refused: {refused}"
        page = await invoke(services, services.registry.get("tool", "get_result"),
                            {"execution_id": result.execution_id, "limit": 1000})
        return result.model_dump_json() + page.model_dump_json()
    finally:
        await services.aclose()


@pytest.mark.parametrize("level", ["strict", "standard", "permissive"])
@pytest.mark.parametrize("case", sorted(SECRET_CASES))
async def test_no_run_without_confirmation_leaks_a_planted_secret(case: str, level: str, planted: Planted,
                                                                 tmp_path: Path) -> None:
    returned = await _run(tmp_path, level, _program(case, planted))
    assert planted.marker not in returned
    assert returned.startswith("refused: "), returned[:500]


async def test_the_marker_does_show_when_a_confirmed_run_reads_the_file(planted: Planted, tmp_path: Path) -> None:
    returned = await _run(tmp_path, "permissive", _program("cat", planted), confirm=True)
    assert planted.marker in returned
