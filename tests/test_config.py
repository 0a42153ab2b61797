"""Settings precedence (defaults < file < environment < flags), errors that name the field, config init/show."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcptrace_core.cli import cli
from mcptrace_core.config import ConfigError, Settings, load_settings, render_default_config


def test_defaults_when_there_is_no_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    assert settings == Settings()
    assert settings.server.host == "127.0.0.1" and settings.runs.max_concurrent == 4
    assert settings.runs.default_timeout_s == 10 and settings.runs.max_timeout_s == 600


def test_precedence_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[runs]\nmax_concurrent = 2\ndefault_timeout_s = 5\n[server]\nport = 9000\n", encoding="utf-8")
    assert load_settings(config).runs.max_concurrent == 2
    monkeypatch.setenv("MCPTRACE_RUNS__MAX_CONCURRENT", "3")
    monkeypatch.setenv("MCPTRACE_PRIVILEGE__PREFIX", '["sudo", "-n"]')
    settings = load_settings(config)
    assert settings.runs.max_concurrent == 3 and settings.runs.default_timeout_s == 5
    assert settings.privilege.prefix == ["sudo", "-n"]
    flagged = load_settings(config, {"runs": {"max_concurrent": 7}})
    assert flagged.runs.max_concurrent == 7 and flagged.server.port == 9000


def test_a_bad_value_in_the_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[runs]\nmax_concurrent = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml.*runs\.max_concurrent.*greater than or equal to 1"):
        load_settings(config)


def test_an_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[runs]\nmax_concurent = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="runs.max_concurent"):
        load_settings(config)


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[runs\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)


def test_a_bad_environment_value_names_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPTRACE_SERVER__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"environment.*server\.port"):
        load_settings(tmp_path / "absent.toml")


def test_max_timeout_may_not_be_below_the_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_timeout_s"):
        load_settings(tmp_path / "absent.toml", {"runs": {"default_timeout_s": 30, "max_timeout_s": 20}})


def test_the_default_file_is_commented_and_reads_back_as_the_defaults() -> None:
    text = render_default_config()
    assert all(f"[{section}]" in text for section in Settings.model_fields)
    assert text.count("\n# ") > 15
    assert Settings.model_validate(tomllib.loads(text)) == Settings()


def test_config_init_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "c" / "config.toml"
    result = runner.invoke(cli, ["--config", str(path), "config", "init"])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == render_default_config()
    again = runner.invoke(cli, ["--config", str(path), "config", "init"])
    assert again.exit_code != 0 and "--force" in again.output
    path.write_text('[server]\nauth_token = "s3cret"\n', encoding="utf-8")
    shown = runner.invoke(cli, ["--config", str(path), "config", "show", "--json"])
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["server"]["auth_token"] == "********" and "s3cret" not in shown.stdout
    text = runner.invoke(cli, ["--config", str(path), "config", "show"])
    assert "s3cret" not in text.stdout and "[runs]" in text.stdout
