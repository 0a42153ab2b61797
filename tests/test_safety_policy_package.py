"""A company's safety policy as a pip-installable package: built, installed into a fresh virtual
environment, and taking effect there through the `mcptrace` entry-point group."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

POLICY_MODULE = '''
"""ACME's tracing policy: tracepoints only, low findings need confirmation, and programs must exit."""

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.models import SafetyPolicy


class NeedsExit(SafetyRule):
    id = "acme-needs-exit"
    severity = Severity.low
    rationale = "ACME wants every trace to end by itself."
    fix = "End the program with exit(), e.g. interval:s:10 { exit(); }."

    def check(self, program, context):
        if program.calls("exit"):
            return []
        return [self.finding("the program never calls exit()", program.probes[0] if program.probes else None)]


@hookimpl
def mcptrace_safety_rules():
    return [NeedsExit()]


@hookimpl
def mcptrace_safety_policies():
    return [SafetyPolicy(
        name="acme", description="ACME production hosts",
        confirm_at=Severity.low, block_at=Severity.high,
        allowed_probes=["tracepoint:*", "interval:*", "BEGIN", "END"],
    )]
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-mcptrace-policy"
version = "1.0.0"

[project.entry-points.mcptrace]
acme = "acme_mcptrace_policy"

[tool.setuptools]
py-modules = ["acme_mcptrace_policy"]
'''


@pytest.fixture(scope="module")
def acme_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new virtual environment holding mcptrace (from this one) and the ACME policy package."""
    base = tmp_path_factory.mktemp("acme")
    package = base / "acme-mcptrace-policy"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "acme_mcptrace_policy.py").write_text(POLICY_MODULE, encoding="utf-8")
    environment = base / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=True).create(environment)
    python = environment / "bin" / "python"
    site_packages = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # mcptrace itself comes from the environment running the tests (an editable install): add its site dir.
    (site_packages / "mcptrace_under_test.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", encoding="utf-8"
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(package)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return python


def mcptrace(python: Path, tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    completed = subprocess.run(
        [python, "-c", "from mcptrace_core.cli import main; main()", "--config", str(tmp_path / "absent.toml"), *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )
    return completed.returncode, json.loads(completed.stdout)


def test_the_installed_package_is_loaded_as_a_plugin(acme_python: Path, tmp_path: Path) -> None:
    _, listing = mcptrace(acme_python, tmp_path, "plugins", "--json")
    acme = next(plugin for plugin in listing["plugins"] if plugin["name"] == "acme")
    assert (acme["state"], acme["distribution"], acme["version"]) == ("loaded", "acme-mcptrace-policy", "1.0.0")
    assert acme["hooks"] == ["mcptrace_safety_policies", "mcptrace_safety_rules"]


@pytest.mark.parametrize(
    ("program", "status", "verdict", "rule"),
    [
        ("tracepoint:sched:sched_process_exec { @[comm] = count(); } interval:s:1 { exit(); }", 0, "allow", None),
        ("tracepoint:sched:sched_process_exec { @[comm] = count(); }", 0, "confirm", "acme-needs-exit"),
        ("profile:hz:49 { @[comm] = count(); exit(); }", 2, "block", "policy-allowed-probes"),
    ],
)
def test_the_packaged_policy_and_rule_take_effect(acme_python: Path, tmp_path: Path, program: str, status: int,
                                                  verdict: str, rule: str | None) -> None:
    code, report = mcptrace(acme_python, tmp_path, "validate", "-", "--level", "acme", "--json", stdin=program)
    assert (code, report["verdict"], report["policy"]) == (status, verdict, "standard+acme"), report
    rules = [finding["rule"] for finding in report["findings"]]
    assert (rule in rules) if rule else rules == []


def test_the_package_can_be_the_configured_level(acme_python: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(textwrap.dedent('''
        [safety]
        level = "acme"
    '''), encoding="utf-8")
    completed = subprocess.run(
        [acme_python, "-c", "from mcptrace_core.cli import main; main()", "--config", str(config), "validate", "-",
         "--json"], input="profile:hz:49 { exit(); }", capture_output=True, text=True, timeout=120, check=False,
    )
    report = json.loads(completed.stdout)
    assert report["policy"] == "acme" and report["verdict"] == "block"
