"""Turn a caller's ``{name: value}`` mapping into a tool's argv, checked against the tool's options.

Nothing reaches a shell: the result is a list of argv words. Every value is bound to its option in one
word (``--pid=42``, ``-p42``), so a value can never be read as another option, and positionals may
not start with '-'. A run's time limit is handed to the tool itself where it has a way to end on its
own (a duration, or an interval and a count), so it ends with its summary printed; otherwise the run
manager stops it with SIGINT at the timeout, which BCC tools also answer with their summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcptrace_bcc.schema import ToolOption, ToolPositional, ToolSchema

MAX_TEXT_CHARS = 512
MAX_LIST_ITEMS = 32
INT_LIMIT = 2**31
_DIGITS = re.compile(r"^-?\d+$")


class ArgumentError(ValueError):
    """An argument the tool does not accept; the message names it and says what is allowed."""


@dataclass
class Invocation:
    """The checked arguments of one run."""

    argv: list[str]
    """The words after the tool's path."""
    ends_after_s: float | None
    """When the tool will end on its own (its duration, or interval x count), if it will."""
    derived: dict[str, int] = field(default_factory=dict)
    """Arguments filled in from the timeout, e.g. {'duration': 5}."""


def build_invocation(tool: str, schema: ToolSchema, arguments: Mapping[str, Any], timeout_s: float) -> Invocation:
    """Check ``arguments`` and render them; fill in duration/interval/count from ``timeout_s``."""
    options: list[tuple[ToolOption, Any]] = []
    positionals: dict[str, Any] = {}
    for key, value in arguments.items():
        target = _lookup(tool, schema, key)
        if isinstance(target, ToolOption):
            options.append((target, _option_value(tool, key, target, value)))
        else:
            positionals[target.name] = _positional_value(tool, key, target, value)
    given = {option.name for option, _ in options} | set(positionals)
    derived = _derive_time_limits(schema, given, timeout_s)
    for name, value in derived.items():
        option = schema.option(name)
        if option is not None:
            options.append((option, value))
        else:
            positionals[name] = value
    argv = [word for option, value in options for word in _render_option(option, value)]
    argv += _render_positionals(tool, schema, positionals)
    return Invocation(argv=argv, ends_after_s=_ends_after(schema, options, positionals), derived=derived)


def _lookup(tool: str, schema: ToolSchema, key: str) -> ToolOption | ToolPositional:
    if not isinstance(key, str) or not key:
        raise ArgumentError(f"arguments: keys must be option names, got {key!r}")
    if re.fullmatch(r"-[^-]", key):  # a short flag: case matters (-t and -T differ)
        found = next((option for option in schema.options if key in option.flags), None)
    else:
        wanted = key.lstrip("-").replace("-", "_")
        found = schema.option(wanted) or next(
            (option for option in schema.options
             if any(flag.startswith("--") and flag[2:].replace("-", "_") == wanted for flag in option.flags)),
            None,
        ) or schema.positional(wanted)
    if found is None:
        raise ArgumentError(f"arguments.{key}: {tool} has no option or argument {key!r}; it accepts: {_known(schema)}")
    return found


def _known(schema: ToolSchema) -> str:
    names = [f"{option.name} ({'/'.join(option.flags)}, {option.value})" for option in schema.options]
    names += [f"{positional.name} (positional, {positional.value})" for positional in schema.positionals]
    return ", ".join(names) or "no arguments at all"


def _option_value(tool: str, key: str, option: ToolOption, value: Any) -> Any:
    where = f"arguments.{key} ({'/'.join(option.flags)})"
    if option.value == "flag":
        if not isinstance(value, bool):
            raise ArgumentError(f"{where}: a flag of {tool}, give true or false (got {value!r})")
        return value
    if option.optional_value and value is True:
        return True
    if isinstance(value, list):
        if not value or len(value) > MAX_LIST_ITEMS:
            raise ArgumentError(f"{where}: a list repeats the option; give 1 to {MAX_LIST_ITEMS} values")
        return [_scalar(where, option.value, option.choices, item) for item in value]
    return _scalar(where, option.value, option.choices, value)


def _positional_value(tool: str, key: str, positional: ToolPositional, value: Any) -> Any:
    where = f"arguments.{key} (positional argument of {tool})"
    checked = _scalar(where, positional.value, positional.choices, value)
    if str(checked).startswith("-"):
        raise ArgumentError(f"{where}: may not start with '-' (it would be read as an option)")
    return checked


def _scalar(where: str, kind: str, choices: list[str] | None, value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ArgumentError(f"{where}: expects {'a whole number' if kind == 'int' else 'a text'}, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _DIGITS.match(value.strip()):
            value = int(value.strip())
        if not isinstance(value, int) or not -INT_LIMIT < value < INT_LIMIT:
            raise ArgumentError(f"{where}: expects a whole number, got {value!r}")
        return value
    text = str(value)
    if not text or len(text) > MAX_TEXT_CHARS:
        raise ArgumentError(f"{where}: expects a text of 1 to {MAX_TEXT_CHARS} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ArgumentError(f"{where}: control characters (newlines, NUL, escapes) are not allowed")
    if choices is not None and text not in choices:
        raise ArgumentError(f"{where}: {text!r} is not one of {', '.join(choices)}")
    return text


def _render_option(option: ToolOption, value: Any) -> list[str]:
    long = next((flag for flag in option.flags if flag.startswith("--")), None)
    flag = long or option.flags[0]
    if option.value == "flag" or value is True:
        return [flag] if value else []
    values = value if isinstance(value, list) else [value]
    return [f"{long}={item}" if long else f"{flag}{item}" for item in values]


def _render_positionals(tool: str, schema: ToolSchema, given: dict[str, Any]) -> list[str]:
    words: list[str] = []
    missing: list[str] = []
    for positional in schema.positionals:
        if positional.name in given:
            if missing:
                raise ArgumentError(
                    f"arguments.{positional.name}: {tool} takes its positional arguments in order "
                    f"({', '.join(p.name for p in schema.positionals)}); give {missing[0]} too"
                )
            words.append(str(given[positional.name]))
        elif positional.required:
            raise ArgumentError(
                f"arguments.{positional.name}: {tool} requires it ({positional.help or positional.value})"
            )
        else:
            missing.append(positional.name)
    return words


def _derive_time_limits(schema: ToolSchema, given: set[str], timeout_s: float) -> dict[str, int]:
    """Let the tool end by itself at the timeout, printing its summary, where it has the means."""
    seconds = max(1, math.ceil(timeout_s))
    duration = schema.option("duration") or schema.positional("duration")
    if duration is not None and duration.value == "int":
        return {} if "duration" in given or "interval" in given else {"duration": seconds}
    interval, count = schema.positional("interval"), schema.positional("count")
    if interval is None or count is None or "count" in given:
        return {}
    if "interval" not in given:
        return {"interval": seconds, "count": 1}
    return {}


def _ends_after(schema: ToolSchema, options: list[tuple[ToolOption, Any]], positionals: dict[str, Any]) -> float | None:
    values = {option.name: value for option, value in options} | positionals
    duration = values.get("duration")
    if isinstance(duration, int) and duration > 0:
        return float(duration)
    interval, count = values.get("interval"), values.get("count")
    counted = schema.positional("count") is not None
    if counted and isinstance(interval, int) and isinstance(count, int) and interval > 0 and count > 0:
        return float(interval * count)
    return None
