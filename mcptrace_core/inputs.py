"""Field types shared by tool inputs, with the checks every caller-supplied text needs."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, Field
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from mcptrace_core.config import Settings

MAX_PROGRAM_CHARS = 256 * 1024
"""A hard ceiling the model checks before anything else reads the text; the schema advertises the
configured runs.max_program_bytes (see ConfigLimit), which is what a run enforces."""


@dataclass(frozen=True)
class ConfigLimit:
    """Marks a field whose bound is a setting: the advertised schema carries the effective value.

    A static bound in the model would promise what the server refuses (a 86,400 s timeout when
    runs.max_timeout_s is 600), so the schema a client sees is rewritten from the settings in force
    by ``effective_input_schema``; the run checks the same setting.
    """

    keyword: str
    """The JSON-schema keyword: 'maximum' or 'maxLength'."""
    setting: str
    """The dotted settings key, e.g. 'runs.max_timeout_s'."""

    def value(self, settings: Settings) -> Any:
        section, key = self.setting.split(".")
        return getattr(getattr(settings, section), key)


def _utf8(value: Any) -> Any:
    """Name the problem with text that cannot be UTF-8 (JSON can carry unpaired surrogate escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"not valid UTF-8 (unpaired surrogate at offset {error.start})") from None
    return value


def _clean_program(text: str) -> str:
    if not text.strip():
        raise ValueError("the program is empty; give bpftrace source such as 'BEGIN { printf(\"hi\\n\"); exit(); }'")
    if "\x00" in text:
        raise ValueError(f"the program contains a NUL character at offset {text.index(chr(0))}")
    return text


ProgramText = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_PROGRAM_CHARS,
        description="bpftrace program source (at most runs.max_program_bytes bytes of UTF-8).",
    ),
    BeforeValidator(_utf8),
    AfterValidator(_clean_program),
    ConfigLimit("maxLength", "runs.max_program_bytes"),
]

RunTimeout = Annotated[float | None, ConfigLimit("maximum", "runs.max_timeout_s")]
"""A run's duration in seconds; bounded by runs.max_timeout_s (declare it with ``timeout_field``)."""


def timeout_field(description: str) -> Any:
    """The ``timeout_s`` field of a tool that runs something; ``timeout`` is accepted too, as MCPtrace
    and the seed plans call it, so a caller switching over is not refused on its first call."""
    return Field(
        None, gt=0, validation_alias=AliasChoices("timeout_s", "timeout"),
        description=f"{description} Default from config (runs.default_timeout_s). Also accepted as `timeout`.",
    )


def effective_input_schema(model: type[BaseModel], settings: Settings) -> dict[str, Any]:
    """The model's JSON schema with every ConfigLimit bound set to its value in ``settings``."""
    schema = model.model_json_schema()
    properties = schema.get("properties", {})
    for name, field in model.model_fields.items():
        limits = [item for item in field.metadata if isinstance(item, ConfigLimit)]
        key = _schema_name(name, field)
        if not limits or key not in properties:
            continue
        prop = properties[key] = copy.deepcopy(properties[key])
        for limit in limits:
            value = limit.value(settings)
            for target in _typed_branches(prop):
                target[limit.keyword] = int(value) if float(value).is_integer() else value
    return schema


def _schema_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return alias if isinstance(alias, str) else (field.alias or name)


def _typed_branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """Where a bound goes: the property itself, or each non-null branch of an optional (anyOf)."""
    if "anyOf" in prop:
        return [branch for branch in prop["anyOf"] if branch.get("type") != "null"]
    return [prop]


def _clean_pattern(text: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("control characters are not allowed")
    return text.strip()


PatternText = Annotated[str, Field(max_length=512), BeforeValidator(_utf8), AfterValidator(_clean_pattern)]

MaxOverheadPct = Field(
    None, gt=0, le=100,
    description="The largest share of the whole machine's CPU (all cores, %) the run's BPF programs and its own "
    "process may use, averaged over the policy's budget window; a run over it is stopped with status over_budget "
    "(maps kept). Only lowers the policy's budget, never raises it.",
)
