"""Entry-point loading: isolation of broken plugins, the blocklist, duplicate names, fresh managers."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from mcptrace_core.config import load_settings
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import build_registry
from tests.plugin_fixtures import install_distribution

GOOD_TOOL = """
from mcptrace_core import hookimpl
from mcptrace_core.tools import ToolInput, ToolOutput, ToolSpec

class Out(ToolOutput):
    said: str

async def handler(call, args):
    return Out(said="hello")

@hookimpl
def mcptrace_tools():
    return [ToolSpec(name="{name}", description="a test tool that says hello", input_model=ToolInput,
                     output_model=Out, handler=handler)]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    importlib.invalidate_caches()
    for module in [name for name in sys.modules if name.startswith("tp_")]:
        del sys.modules[module]


def _records(pm):  # type: ignore[no-untyped-def]
    return {record.name: record for record in pm.records}


def test_a_plugin_that_fails_to_import_is_skipped_and_named(site: Path) -> None:
    install_distribution(site, "tp-broken", {"tp_broken": "raise RuntimeError('boom at import')"}, {"tp-broken": "tp_broken"})
    install_distribution(site, "tp-good", {"tp_good": GOOD_TOOL.format(name="tp_hello")}, {"tp-good": "tp_good"})
    pm = build_plugin_manager()
    records = _records(pm)
    assert records["tp-broken"].state == "failed"
    assert "boom at import" in (records["tp-broken"].error or "")
    assert records["tp-broken"].distribution == "tp-broken"
    assert records["tp-good"].state == "loaded"
    assert records["bpftrace"].state == "loaded"  # the built-ins still load
    registry = build_registry(pm, load_settings(site / "none.toml"))
    assert registry.get("tool", "tp_hello") is not None


def test_a_plugin_implementing_an_unknown_hook_is_rejected(site: Path) -> None:
    source = "from mcptrace_core import hookimpl\n@hookimpl\ndef mcptrace_no_such_hook():\n    return []\n"
    install_distribution(site, "tp-unknown", {"tp_unknown": source}, {"tp-unknown": "tp_unknown"})
    records = _records(build_plugin_manager())
    assert records["tp-unknown"].state == "failed"
    assert "mcptrace_no_such_hook" in (records["tp-unknown"].error or "")


def test_a_hook_with_a_wrong_argument_is_rejected(site: Path) -> None:
    source = "from mcptrace_core import hookimpl\n@hookimpl\ndef mcptrace_tools(nonsense):\n    return []\n"
    install_distribution(site, "tp-badarg", {"tp_badarg": source}, {"tp-badarg": "tp_badarg"})
    records = _records(build_plugin_manager())
    assert records["tp-badarg"].state == "failed"
    assert "nonsense" in (records["tp-badarg"].error or "")


def test_blocklist_from_config_and_environment(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_distribution(site, "tp-a", {"tp_a": GOOD_TOOL.format(name="tp_a")}, {"tp-a": "tp_a"})
    install_distribution(site, "tp-b", {"tp_b": GOOD_TOOL.format(name="tp_b")}, {"tp-b": "tp_b"})
    config = tmp_path / "config.toml"
    config.write_text('[plugins]\ndisable = ["tp-a"]\n', encoding="utf-8")
    monkeypatch.setenv("MCPTRACE_DISABLE_PLUGINS", "tp-b, bpftrace")
    settings = load_settings(config)
    assert set(settings.plugins.disable) == {"tp-a", "tp-b", "bpftrace"}
    pm = build_plugin_manager(settings.plugins.disable)
    records = _records(pm)
    assert {records[name].state for name in ("tp-a", "tp-b", "bpftrace")} == {"blocked"}
    registry = build_registry(pm, settings)
    assert registry.get("tool", "tp_a") is None and registry.get("tool", "exec_program") is None
    assert registry.get("tool", "get_result") is not None


def test_duplicate_names_are_rejected_naming_both_plugins(site: Path) -> None:
    install_distribution(site, "tp-one", {"tp_one": GOOD_TOOL.format(name="tp_same")}, {"tp-one": "tp_one"})
    install_distribution(site, "tp-two", {"tp_two": GOOD_TOOL.format(name="tp_same")}, {"tp-two": "tp_two"})
    registry = build_registry(build_plugin_manager(), load_settings(site / "none.toml"))
    assert registry.origin("tool", "tp_same") == "tp-one"
    conflict = [problem for problem in registry.problems if "tp_same" in problem]
    assert len(conflict) == 1 and "tp-one" in conflict[0] and "tp-two" in conflict[0]


def test_a_hook_that_raises_does_not_take_others_down(site: Path) -> None:
    source = "from mcptrace_core import hookimpl\n@hookimpl\ndef mcptrace_tools():\n    raise ValueError('broken hook')\n"
    install_distribution(site, "tp-raises", {"tp_raises": source}, {"tp-raises": "tp_raises"})
    registry = build_registry(build_plugin_manager(), load_settings(site / "none.toml"))
    assert any("tp-raises" in problem and "broken hook" in problem for problem in registry.problems)
    assert registry.get("tool", "exec_program") is not None


def test_every_call_builds_a_fresh_manager() -> None:
    first, second = build_plugin_manager(), build_plugin_manager()
    assert first is not second
    first.set_blocked("bpftrace")
    assert not second.is_blocked("bpftrace")


def test_tests_can_build_a_manager_with_only_their_plugins() -> None:
    pm = build_plugin_manager(load_entry_points=False)
    assert pm.get_plugins() == set()
    assert not pm.records
