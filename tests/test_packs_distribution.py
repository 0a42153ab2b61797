"""A pack that is its own distribution: build its wheel, install it into a fresh virtual environment,
and find its examples through the `mcptrace` entry point, in a separate interpreter.

The fresh environment sees this project as the test process does (a .pth adds the site directory that
holds the installed mcptrace); the pack itself is installed from the wheel by pip, offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

PACK_SOURCE = Path(__file__).parents[1] / "example_packs" / "containers"

PROBE = """
import json
from mcptrace_core.config import Settings
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import build_registry

pm = build_plugin_manager()
registry = build_registry(pm, Settings())
pack = registry.get("example_pack", "containers")
record = next(r for r in pm.records if r.name == "containers-examples")
print(json.dumps({
    "origin": registry.origin("example_pack", "containers"),
    "distribution": record.distribution,
    "version": record.version,
    "examples": [e.id for e in pack.examples()],
    "problems": pack.problems,
    "module": __import__("mcptrace_pack_containers").__file__,
}))
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_containers_pack_installs_from_its_wheel_and_loads_through_its_entry_point(
    tmp_path: Path,
) -> None:
    source = shutil.copytree(
        PACK_SOURCE, tmp_path / "source", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--wheel-dir",
        wheels,
        source,
    )
    [wheel] = wheels.glob("mcptrace_pack_containers-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    python = venv / "bin" / "python"
    site_packages = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    project_site = Path(sysconfig.get_paths()["purelib"])  # where this environment installed mcptrace
    assert list(project_site.glob("mcptrace-*.dist-info")), f"mcptrace is not installed in {project_site}"
    (site_packages / "mcptrace-under-test.pth").write_text(
        f"import site; site.addsitedir({str(project_site)!r})\n"
    )
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)

    found = json.loads(run(python, "-c", PROBE, cwd=tmp_path).splitlines()[-1])
    assert found["origin"] == "containers-examples"
    assert (found["distribution"], found["version"]) == ("mcptrace-pack-containers", "0.1.0")
    assert found["module"].startswith(str(site_packages))  # the installed wheel, not the source tree
    assert len(found["examples"]) >= 5 and all(example.startswith("ctr.") for example in found["examples"])
    assert found["problems"] == []
