"""Settings: defaults < TOML file < environment (MCPTRACE_*) < command-line flags.

The file lives in the user config directory (``mcptrace config init`` writes a commented one).
Environment variables use ``__`` between section and key: ``MCPTRACE_RUNS__MAX_CONCURRENT=8``.
``MCPTRACE_DISABLE_PLUGINS=a,b`` adds to ``plugins.disable``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ENV_PREFIX = "MCPTRACE_"
CONFIG_ENV = "MCPTRACE_CONFIG"
DISABLE_ENV = "MCPTRACE_DISABLE_PLUGINS"


class ConfigError(Exception):
    """The configuration could not be read or is invalid; the message names the source and the field."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ServerSettings(Section):
    transport: Literal["stdio", "http"] = Field(
        "stdio", description="How MCP clients connect: 'stdio' (a client starts the server) or 'http'."
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the HTTP transport binds; every address, loopback included, requires the token.",
    )
    port: int = Field(8765, ge=1, le=65535, description="Port of the HTTP transport.")
    auth_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token HTTP clients must send (at least 32 characters); unset: a token is generated on first "
            "start into http-token in the user config folder (0600)."
        ),
        examples=["<a long random string, e.g. from `openssl rand -hex 32`>"],
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "More Host header values HTTP clients may use (e.g. the machine's name when binding 0.0.0.0); the bind "
            "address and, on loopback, localhost are always allowed. Origin headers must name one of them."
        ),
        examples=[["tracer.example.internal"]],
    )
    unix_socket: Path | None = Field(
        None,
        description=(
            "Serve HTTP on this Unix socket instead of host:port; only this user (and root) may connect "
            "(SO_PEERCRED), and the token is still required."
        ),
        examples=["/run/user/1000/mcptrace.sock"],
    )
    exposure: Literal["compact", "full"] = Field(
        "compact",
        description="'compact' exposes the generic tools; 'full' also exposes each template and BCC tool.",
    )
    output_schemas: Literal["compact", "full"] = Field(
        "compact",
        description="'compact' lists each tool's result fields and their types, nested objects only as objects "
        "(~8 KB for all tools, cheap for clients to validate); 'full' lists pydantic's whole schemas (~110 KB).",
    )


class RunSettings(Section):
    max_concurrent: int = Field(4, ge=1, le=64, description="Runs allowed at the same time.")
    default_timeout_s: float = Field(10.0, gt=0, description="Timeout of a run that names none, in seconds.")
    max_timeout_s: float = Field(600.0, gt=0, description="Largest timeout a caller may ask for, in seconds.")
    max_output_lines: int = Field(
        20_000, ge=100, description="Lines of output kept per run (head and tail; the middle is counted)."
    )
    max_output_bytes: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, description="Bytes of output kept per run (head and tail)."
    )
    max_line_bytes: int = Field(4096, ge=80, description="A longer output line is cut and marked.")
    max_program_bytes: int = Field(
        64 * 1024, ge=256, le=256 * 1024, description="Largest program accepted, in bytes (at most 262144)."
    )
    keep_finished_s: float = Field(3600.0, ge=0, description="How long a finished run stays queryable.")
    watch_interval_s: float = Field(
        0.5, ge=0.05, le=10,
        description="How often running runs are measured and checked against their runtime limits "
        "(output rate, overhead budget), in seconds.",
    )

    @field_validator("max_timeout_s")
    @classmethod
    def _max_at_least_default(cls, value: float, info: Any) -> float:
        default = info.data.get("default_timeout_s")
        if default is not None and value < default:
            raise ValueError(f"must be >= default_timeout_s ({default})")
        return value


class CheckSettings(Section):
    max_concurrent: int = Field(
        2, ge=1, le=64, description="Compile checks (bpftrace -d / --dry-run) running at the same time; the rest wait."
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, description="A compile check (and its wait for a slot) is killed after this many seconds."
    )
    memory_mb: int = Field(
        1024, ge=128, description="Address space a compile check may use, in MiB (RLIMIT_AS); beyond it the check fails."
    )
    cpu_s: float = Field(30.0, gt=0, le=600, description="CPU seconds a compile check may use (RLIMIT_CPU).")


class PrivilegeSettings(Section):
    prefix: list[str] = Field(
        default_factory=list,
        description=(
            "Command put before bpftrace when not running as root, e.g. ['sudo', '-n'] with a NOPASSWD "
            "sudoers rule. Never put a password anywhere."
        ),
    )


class PluginSettings(Section):
    disable: list[str] = Field(
        default_factory=list, description="Plugins (entry-point names) not to load; see `mcptrace plugins`."
    )


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Least severe level logged.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="'auto' writes JSON lines under `serve` and readable lines elsewhere."
    )


class BpftraceSettings(Section):
    path: str | None = Field(
        None,
        description="bpftrace executable; found on PATH (and /usr/sbin) when unset.",
        examples=["/usr/bin/bpftrace"],
    )
    map_keys: int = Field(
        4096, ge=1, le=16_777_216,
        description="Keys per map a run gets (the kernel preallocates them: 65536 per-CPU keys cost ~0.1 s per map "
        "to create); the safety policy's BPFTRACE_MAP_KEYS_MAX stays the ceiling.",
    )


class SafetySettings(Section):
    level: str = Field(
        "standard",
        pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
        description=(
            "Safety policy every run must pass: 'strict', 'standard', 'permissive', the name in policy_file, or "
            "one a plugin adds. A caller may ask for another level too; runs then meet both."
        ),
    )
    policy_file: Path | None = Field(
        None,
        description="A TOML policy file (name, extends, thresholds, rules on/off, allowed probes, limits).",
        examples=["~/.config/mcptrace/policy.toml"],
    )
    audit_log: Path | None = Field(
        None,
        description="Where every run decision is appended as a JSON line; default: audit.jsonl in the user state dir.",
        examples=["/var/log/mcptrace/audit.jsonl"],
    )

    def audit_path(self) -> Path:
        if self.audit_log is not None:
            return self.audit_log.expanduser()
        from platformdirs import user_state_path

        return user_state_path("mcptrace") / "audit.jsonl"


class BccSettings(Section):
    tool_dirs: list[str] = Field(
        default_factory=list,
        description=(
            "More folders of BCC or libbpf tools, beyond the Debian packages (bpfcc-tools, libbpf-tools) "
            "and /usr/share/bcc/tools; every executable file in them is taken as a tool."
        ),
        examples=[["/usr/share/bcc/libbpf-tools"]],
    )
    deny: list[str] = Field(
        default_factory=list,
        description="BCC tools that may never run: names or shell-style patterns, e.g. ['tcp*', 'opensnoop'].",
    )
    trial_timeout_s: float = Field(
        4.0, gt=0, le=60,
        description="How long a usability trial waits for a tool to attach (once per boot per tool).",
    )
    trial_concurrency: int = Field(
        6, ge=1, le=64, description="Tools tried or asked for --help at the same time while the catalog is built."
    )


class FleetSettings(Section):
    inventory: Path | None = Field(
        None,
        description="An Ansible inventory (INI or YAML) naming the fleet's hosts and groups; ~/.ssh/config hosts are added.",
        examples=["~/.config/mcptrace/inventory.ini"],
    )
    ssh_config: Path | None = Field(
        None, description="The OpenSSH client config whose Host names join the fleet; ~/.ssh/config when unset.",
        examples=["~/.ssh/config"],
    )
    known_hosts: Path | None = Field(
        None, description="Host keys are checked against this file; ~/.ssh/known_hosts when unset. Unknown keys are refused.",
        examples=["~/.ssh/known_hosts"],
    )
    max_parallel: int = Field(32, ge=1, le=1024, description="Most hosts connected to or run on at the same time.")
    connect_timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds to connect and log in to one host.")
    remote_bpftrace: str = Field(
        "bpftrace", pattern=r"^[A-Za-z0-9_./+-]{1,200}$",
        description="The bpftrace command on the remote hosts (a name on their PATH or an absolute path).",
    )


class HistorySettings(Section):
    enabled: bool = Field(True, description="Record every run in the history store (SQLite), searchable later.")
    path: Path | None = Field(
        None,
        description="The history database file; history.sqlite3 in the user data directory when unset.",
        examples=["/var/lib/mcptrace/history.sqlite3"],
    )
    max_runs: int = Field(100_000, ge=0, description="Most runs kept; the oldest go first. 0 keeps every run.")
    max_age_days: float = Field(90.0, ge=0, description="Runs older than this many days are removed. 0 keeps them forever.")
    max_output_lines: int = Field(
        1000, ge=0, le=100_000, description="Output lines kept per run in the history (half from the start, half from the end)."
    )


class OverheadSettings(Section):
    measure: bool = Field(
        True, description="Measure what every run costs (BPF events and time, CPU, memory) and enforce the budget."
    )
    bpf_stats: Literal["auto", "bpf_enable_stats", "sysctl", "off"] = Field(
        "auto",
        description="How the kernel's BPF run-time stats are switched on while runs are measured: 'auto' "
        "(bpf_enable_stats, else sysctl), 'bpf_enable_stats' (off again when the server ends, however it ends), "
        "'sysctl' (kernel.bpf_stats_enabled, restored after the last run and by a guardian if the server dies), "
        "or 'off' (no BPF time; CPU and memory are still measured).",
    )
    state_dir: Path | None = Field(
        None,
        description="Where the sysctl method records the value it found (shared by every mcptrace on the host); "
        "/run/mcptrace as root, else the user state directory.",
    )

    def state_path(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir.expanduser()
        if os.geteuid() == 0:
            return Path("/run/mcptrace")
        from platformdirs import user_state_path

        return user_state_path("mcptrace")


class SearchSettings(Section):
    embedder: str = Field(
        "onnx-minilm",
        description="Embedder plugin that gives search its sense of meaning; 'none' ranks by exact terms only.",
    )
    preload: bool = Field(
        True,
        description="`mcptrace serve` (stdio) loads the search index and the model in the background once it is up, so "
        "the first search does not wait for them (costs ~170 MB of memory in every server).",
    )


class Settings(Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    runs: RunSettings = Field(default_factory=RunSettings)
    checks: CheckSettings = Field(default_factory=CheckSettings)
    privilege: PrivilegeSettings = Field(default_factory=PrivilegeSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    bpftrace: BpftraceSettings = Field(default_factory=BpftraceSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    bcc: BccSettings = Field(default_factory=BccSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    fleet: FleetSettings = Field(default_factory=FleetSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    overhead: OverheadSettings = Field(default_factory=OverheadSettings)


def user_config_path() -> Path:
    """Where the config file is read from: $MCPTRACE_CONFIG, else the user config directory."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path as config_dir

    return config_dir("mcptrace") / "config.toml"


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the effective settings; raise ConfigError naming the source and field of a bad value."""
    path = config_file or user_config_path()
    file_data = _read_toml(path) if path.exists() else {}
    _validate(file_data, f"config file {path}")
    layered = deep_merge(file_data, _read_environment())
    _validate(layered, f"environment ({ENV_PREFIX}*) over config file {path}")
    merged = deep_merge(layered, overrides or {})
    disabled = [name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()]
    if disabled:  # adds to the configured list rather than replacing it
        plugins = merged.setdefault("plugins", {})
        plugins["disable"] = list(plugins.get("disable") or []) + disabled
    return _validate(merged, "command-line options")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from error


def _read_environment() -> dict[str, Any]:
    from pydantic_settings import EnvSettingsSource

    source = EnvSettingsSource(Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__")
    try:
        return dict(source())
    except Exception as error:  # pydantic-settings reports undecodable JSON values this way
        raise ConfigError(f"environment ({ENV_PREFIX}*): {error}") from error


def _validate(data: dict[str, Any], source: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid settings in {source}: {validation_problems(error)}") from error


def validation_problems(error: ValidationError) -> str:
    """Each invalid field of a settings-like document as 'dotted.key: what is wrong', joined by '; '."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}" for item in error.errors()
    )


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` on it: tables merge key by key, anything else in ``top`` replaces."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_default_config() -> str:
    """The default settings as TOML, every key preceded by its description as a comment.

    tomli_w writes the values (so quoting is always right); the comments are interleaved here
    because TOML writers do not carry comments. Keys without a default value are commented out.
    """
    import tomli_w

    lines = [
        "# mcptrace configuration. Precedence: defaults < this file < MCPTRACE_* environment < flags.",
        "# Environment form of a key: MCPTRACE_<SECTION>__<KEY>, e.g. MCPTRACE_RUNS__MAX_CONCURRENT=8.",
    ]
    defaults = Settings()
    for section_name, section_field in Settings.model_fields.items():
        section = getattr(defaults, section_name)
        lines += ["", f"[{section_name}]"]
        for key, field in type(section).model_fields.items():
            lines.append(f"# {field.description}")
            value = getattr(section, key)
            if value is None:
                example = (field.examples or ["..."])[0]
                lines.append("# " + tomli_w.dumps({key: example}).rstrip("\n"))
            else:
                lines.append(tomli_w.dumps({key: value}).rstrip("\n"))
    return "\n".join(lines) + "\n"


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain data for display; secrets are masked."""
    data = settings.model_dump(mode="json")
    if settings.server.auth_token is not None:
        data["server"]["auth_token"] = "********"
    return data
