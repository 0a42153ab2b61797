"""The feature matrix: each probe type and tracing feature, what it needs, and whether this host has it.

The table (guides/feature_matrix.toml) is the project's own. The "here" column is measured where
mcptrace can measure (probe types are tried for real by the bpftrace backend; files are looked for)
and otherwise inferred from the running kernel's version and build configuration, and says which.
"""

from __future__ import annotations

import gzip
import platform
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CONFIG_SOURCES = (Path("/proc/config.gz"), Path("/boot/config-{release}"))
_VERSION = re.compile(r"^(\d+)\.(\d+)")


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kernel: str = Field(pattern=r"^\d+\.\d+$")
    config: list[str] = Field(default_factory=list)
    bpftrace: str | None = Field(None, pattern=r"^\d+\.\d+$")
    probe_type: str | None = None
    files: list[str] = Field(default_factory=list)
    notes: str


@dataclass
class HostFacts:
    kernel: str
    config: set[str] | None
    """Options built in or as modules; None when the kernel's configuration cannot be read."""
    config_source: str | None
    bpftrace: tuple[int, int, int] | None
    probe_types: dict[str, Any]
    """Measured probe types (name -> status with .usable and .detail); empty when not measured."""


def load_features() -> list[Feature]:
    text = files(__package__).joinpath("guides/feature_matrix.toml").read_text(encoding="utf-8")
    return [Feature.model_validate(item) for item in tomllib.loads(text)["feature"]]


def kernel_config(release: str) -> tuple[set[str] | None, str | None]:
    for template in CONFIG_SOURCES:
        path = Path(str(template).format(release=release))
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        except OSError:
            continue
        enabled = {
            line.split("=", 1)[0]
            for line in raw.decode("utf-8", "replace").splitlines()
            if line.endswith(("=y", "=m"))
        }
        return enabled, str(path)
    return None, None


async def host_facts(services: Any) -> HostFacts:
    release = platform.release()
    config, source = kernel_config(release)
    backend = services.registry.get("backend", "bpftrace")
    version, probe_types = None, {}
    if backend is not None:
        try:
            version = backend.executable().version
            probe_types = await backend.probe_types()
        except Exception:  # no bpftrace or no privilege: the matrix says "not measured"
            pass
    return HostFacts(release, config, source, version, probe_types)


def verdict(feature: Feature, host: HostFacts) -> str:
    """Whether this host has the feature, and how we know."""
    if feature.probe_type and feature.probe_type in host.probe_types:
        status = host.probe_types[feature.probe_type]
        return ("yes" if status.usable else "no") + f" (measured: {status.detail})"
    if feature.files:
        found = next((path for path in feature.files if Path(path).exists()), None)
        return f"yes ({found} exists)" if found else f"no ({' / '.join(feature.files)} missing)"
    problems = []
    if _version(host.kernel) < _version(feature.kernel):
        problems.append(f"kernel {host.kernel} is older than {feature.kernel}")
    if host.config is not None:
        missing = [option for option in feature.config if option not in host.config]
        if missing:
            problems.append(f"{', '.join(missing)} not set")
    if feature.bpftrace and host.bpftrace is not None and host.bpftrace[:2] < _version(feature.bpftrace):
        problems.append(f"bpftrace {'.'.join(map(str, host.bpftrace))} is older than {feature.bpftrace}")
    if problems:
        return "no (" + "; ".join(problems) + ")"
    basis = (
        "kernel version and config" if host.config is not None else "kernel version only; config unreadable"
    )
    return f"likely (inferred from {basis})"


def render(features: list[Feature], host: HostFacts) -> str:
    bpftrace = ".".join(map(str, host.bpftrace)) if host.bpftrace else "not found"
    lines = [
        "# Feature matrix: probe types and features, what they need, and this host",
        "",
        f"This host: kernel {host.kernel}, bpftrace {bpftrace}, kernel config from "
        f"{host.config_source or 'nowhere (not readable)'}.",
        "'measured' means mcptrace attached a probe of that type here; 'inferred' comes from the kernel version and config.",
        "",
        "| feature | kernel | config | bpftrace | here | notes |",
        "|---|---|---|---|---|---|",
    ]
    for feature in features:
        cells = [
            feature.name,
            f">= {feature.kernel}",
            ", ".join(feature.config) or "-",
            f">= {feature.bpftrace}" if feature.bpftrace else "-",
            verdict(feature, host),
            feature.notes,
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _version(text: str) -> tuple[int, int]:
    match = _VERSION.match(text)
    return (int(match[1]), int(match[2])) if match else (0, 0)
