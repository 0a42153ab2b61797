"""Build real installed distributions for plugin-loading tests.

A distribution here is what pip leaves behind: a ``*.dist-info`` folder with METADATA and
entry_points.txt next to the plugin's module, on a path that importlib.metadata scans.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_distribution(site: Path, name: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write modules and a dist-info declaring ``entry_points`` (name -> module) in group ``mcptrace``."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"  # dist-info names use underscores
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    lines = ["[mcptrace]"] + [f"{ep} = {target}" for ep, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
