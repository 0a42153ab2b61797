"""Find safety policies by name: the ones plugins contribute, and the one in the configured policy file.

A policy file is TOML. It names its policy and may extend another one, changing only what it lists:

    name = "acme"
    description = "Production hosts at ACME"
    extends = "standard"
    confirm_at = "medium"
    disabled_rules = ["hot-probe-output"]
    allowed_probes = ["tracepoint:*", "profile:*", "interval:*", "BEGIN", "END"]
    readable_files = ["/proc/loadavg", "/proc/[0-9]*/status"]   # what cat() reads without asking
    include_dirs = ["/usr/include"]                               # where #include may read headers
    [thresholds]
    attach_confirm_over = 20
    [severities]
    "tls-plaintext" = "critical"
    [limits]
    BPFTRACE_MAP_KEYS_MAX = 2048
    [tools]                       # BCC tools, by name or pattern
    "tcp*" = "block"
    opensnoop = "confirm"

The file is read on every use, so an edit takes effect at the next run without a restart.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mcptrace_core.config import deep_merge, validation_problems
from mcptrace_core.safety.models import SafetyPolicy

if TYPE_CHECKING:
    from mcptrace_core.config import Settings
    from mcptrace_core.registry import Registry
    from mcptrace_core.services import Services


class PolicyError(Exception):
    """A policy cannot be found or its file is invalid; the message names the file, the key and the fix."""


def available_policies(services: Services) -> dict[str, SafetyPolicy]:
    """Every policy by name: contributed by plugins, plus the configured policy file's."""
    return _available(services.registry, services.settings)


def resolve_policy(services: Services, name: str | None = None) -> SafetyPolicy:
    """The policy called ``name`` (the configured safety.level when None)."""
    return named_policy(services.registry, services.settings, name)


def named_policy(registry: Registry, settings: Settings, name: str | None = None) -> SafetyPolicy:
    """``resolve_policy`` for code that has the registry and settings but no services yet (tool hooks)."""
    wanted = name or settings.safety.level
    policies = _available(registry, settings)
    if wanted not in policies:
        known = ", ".join(sorted(policies)) or "none (is the safety plugin disabled?)"
        raise PolicyError(f"safety level {wanted!r} is not a known policy; known policies: {known}")
    return policies[wanted]


def _available(registry: Registry, settings: Settings) -> dict[str, SafetyPolicy]:
    policies = {policy.name: policy for policy in registry.safety_policies}
    path = settings.safety.policy_file
    if path is not None:
        policy = load_policy_file(path.expanduser(), policies)
        policies[policy.name] = policy
    return policies


def run_policies(services: Services, requested: str | None) -> list[SafetyPolicy]:
    """The policies a run must meet: the configured one, and the caller's when it names another.

    A caller can make a run stricter than the configuration, never looser.
    """
    configured = resolve_policy(services)
    if requested is None or requested == configured.name:
        return [configured]
    return [configured, resolve_policy(services, requested)]


def load_policy_file(path: Path, known: dict[str, SafetyPolicy]) -> SafetyPolicy:
    """Read a policy file; ``extends`` names a policy in ``known`` whose settings it starts from."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} (safety.policy_file) does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"policy file {path} is not valid TOML: {error}") from None
    except OSError as error:
        raise PolicyError(f"policy file {path} cannot be read: {error.strerror}") from None
    base_name = data.pop("extends", None)
    base: dict[str, Any] = {}
    if base_name is not None:
        if base_name not in known:
            raise PolicyError(
                f"policy file {path}: extends = {base_name!r} is not a known policy ({', '.join(sorted(known))})"
            )
        base = known[base_name].model_dump(mode="json", exclude={"name", "description"})
        base["description"] = f"{known[base_name].description} (extended by {path.name})"
    data.setdefault("name", path.stem)
    try:
        return SafetyPolicy.model_validate(deep_merge(base, data))
    except ValidationError as error:
        raise PolicyError(f"policy file {path} is invalid: {validation_problems(error)}") from None
