"""Parameter kinds: how a typed template parameter is validated and how it becomes bpftrace code.

A template never sees what a caller typed. Each kind validates a value into a canonical form (one
that validates to itself again, so the parameters in a result can be sent back as they are) and
renders that form as bpftrace that cannot change the program's structure: integers as integers,
names checked against strict patterns, text as escaped string literals, probes against a grammar,
binaries and devices resolved on this host.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from mcptrace_core.templates import host_values
from mcptrace_core.templates.literals import (
    format_time_ns,
    parse_size,
    parse_time_ns,
    string_literal,
)
from mcptrace_core.templates.probe_grammar import SHAPES, parse_probe

if TYPE_CHECKING:
    from mcptrace_core.templates.model import ParameterSpec

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PID_MAX = 4_194_304
"""PID_MAX_LIMIT on 64-bit Linux: no pid or tid is larger."""
TASK_COMM_BYTES = 15
"""A task's command name is at most 15 bytes (TASK_COMM_LEN 16, with its NUL)."""
DEFAULT_STRING_BYTES = 64
"""bpftrace's default BPFTRACE_STRLEN: a longer literal could never match."""


def checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a ValueError from a check into a pydantic error whose message is exactly the check's words."""

    def validator(value: Any) -> Any:
        try:
            return function(value)
        except ValueError as error:
            raise PydanticCustomError("template_parameter", str(error)) from None

    return validator


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("template_parameter", "a number is needed, not true/false")
    return value


class Kind:
    """One kind of parameter. ``allowed`` says in a few words what values it takes."""

    name: ClassVar[str]

    def allowed(self, spec: ParameterSpec) -> str:
        raise NotImplementedError

    def annotation(self, spec: ParameterSpec) -> Any:
        """The pydantic type that validates a value into its canonical form."""
        raise NotImplementedError

    def render(self, value: Any, spec: ParameterSpec) -> Any:
        """The canonical value as safe bpftrace: an int, a bool (for conditions) or source text."""
        return value

    def check_spec(self, spec: ParameterSpec) -> None:
        """Raise ValueError when the spec cannot work with this kind (checked when a pack loads)."""


class IntKind(Kind):
    name = "int"
    floor: ClassVar[int | None] = None
    ceiling: ClassVar[int | None] = None

    def bounds(self, spec: ParameterSpec) -> tuple[int | None, int | None]:
        low = spec.min if spec.min is not None else self.floor
        high = spec.max if spec.max is not None else self.ceiling
        return (int(low) if low is not None else None, int(high) if high is not None else None)

    def allowed(self, spec: ParameterSpec) -> str:
        low, high = self.bounds(spec)
        if low is not None and high is not None:
            return f"an integer from {low} to {high}"
        if low is not None:
            return f"an integer >= {low}"
        return f"an integer <= {high}" if high is not None else "an integer"

    def annotation(self, spec: ParameterSpec) -> Any:
        low, high = self.bounds(spec)
        return Annotated[int, BeforeValidator(_no_bool), Field(ge=low, le=high)]


class PidKind(IntKind):
    name = "pid"
    floor, ceiling = 1, PID_MAX

    def allowed(self, spec: ParameterSpec) -> str:
        low, high = self.bounds(spec)
        return f"a process or thread id, {low}..{high}"


class BoolKind(Kind):
    name = "bool"

    def allowed(self, spec: ParameterSpec) -> str:
        return "true or false"

    def annotation(self, spec: ParameterSpec) -> Any:
        return bool


class StringKind(Kind):
    """Free text, rendered as an escaped string literal."""

    name = "string"

    def max_bytes(self, spec: ParameterSpec) -> int:
        return spec.max_length or DEFAULT_STRING_BYTES

    def allowed(self, spec: ParameterSpec) -> str:
        return f"text of 1 to {self.max_bytes(spec)} bytes (UTF-8), without NUL"

    def annotation(self, spec: ParameterSpec) -> Any:
        limit = self.max_bytes(spec)

        def check(value: str) -> str:
            size = len(value.encode("utf-8", "surrogatepass"))
            if not value or size > limit:
                raise ValueError(f"must be 1 to {limit} bytes of UTF-8, got {size}")
            if "\x00" in value:
                raise ValueError("must not contain a NUL character")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("is not valid UTF-8 (it holds an unpaired surrogate)") from None
            return value

        return Annotated[str, Field(min_length=1, max_length=limit), AfterValidator(checked(check))]

    def render(self, value: Any, spec: ParameterSpec) -> Any:
        return string_literal(value)


class CommKind(StringKind):
    name = "comm"

    def max_bytes(self, spec: ParameterSpec) -> int:
        return TASK_COMM_BYTES

    def allowed(self, spec: ParameterSpec) -> str:
        return "a command name as in /proc/PID/comm: 1 to 15 bytes, compared exactly"


class NetDeviceKind(StringKind):
    name = "net_device"
    PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_.@+-]{1,15}$")

    def allowed(self, spec: ParameterSpec) -> str:
        return "a network interface name (e.g. eth0, lo), at most 15 characters"

    def annotation(self, spec: ParameterSpec) -> Any:
        def check(value: str) -> str:
            if not self.PATTERN.match(value):
                raise ValueError("must be an interface name: 1-15 letters, digits or _ . @ + -")
            return value

        return Annotated[str, AfterValidator(checked(check))]


class IdentifierKind(Kind):
    name = "identifier"

    def allowed(self, spec: ParameterSpec) -> str:
        return "a name of letters, digits and '_', not starting with a digit"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[str, Field(pattern=IDENTIFIER.pattern, max_length=spec.max_length or 64)]


class SymbolKind(Kind):
    """A function name in a binary or the kernel; '*' and '?' as wildcards when the spec allows them."""

    name = "symbol"

    def pattern(self, spec: ParameterSpec) -> str:
        return r"^[A-Za-z_*?][A-Za-z0-9_.*?]*$" if spec.wildcards else r"^[A-Za-z_][A-Za-z0-9_.]*$"

    def allowed(self, spec: ParameterSpec) -> str:
        wild = " ('*' and '?' match any text)" if spec.wildcards else ""
        return f"a function name of letters, digits, '_' and '.'{wild}"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[str, Field(pattern=self.pattern(spec), max_length=256)]


class EnumKind(Kind):
    name = "enum"

    def allowed(self, spec: ParameterSpec) -> str:
        return "one of " + ", ".join(spec.choices or [])

    def annotation(self, spec: ParameterSpec) -> Any:
        return Literal[tuple(spec.choices or ())]  # type: ignore[misc]

    def check_spec(self, spec: ParameterSpec) -> None:
        if not spec.choices:
            raise ValueError("an enum needs choices")
        bad = [choice for choice in spec.choices if not IDENTIFIER.match(choice)]
        if bad:
            raise ValueError(f"enum choices must be identifiers (they may be rendered into code): {bad}")


class TimeKind(Kind):
    """A time threshold; bare numbers are in the spec's unit. Canonical: the shortest exact spelling."""

    name = "threshold"

    def limits_ns(self, spec: ParameterSpec) -> tuple[int, int]:
        low = parse_time_ns(spec.min, spec.unit) if spec.min is not None else 0
        high = parse_time_ns(spec.max, spec.unit) if spec.max is not None else TIME_CEILING_NS
        return low, high

    def allowed(self, spec: ParameterSpec) -> str:
        low, high = self.limits_ns(spec)
        return (f"a time such as '10ms', '250us' or '2s' (a bare number is in {spec.unit}), "
                f"from {format_time_ns(low)} to {format_time_ns(high)}")

    def annotation(self, spec: ParameterSpec) -> Any:
        low, high = self.limits_ns(spec)

        def check(value: int | str) -> str:
            nanoseconds = parse_time_ns(value, spec.unit)
            if not low <= nanoseconds <= high:
                raise ValueError(f"{value!r} is outside {format_time_ns(low)}..{format_time_ns(high)}")
            return format_time_ns(nanoseconds)

        return Annotated[int | str, BeforeValidator(_no_bool), AfterValidator(checked(check))]

    def render(self, value: Any, spec: ParameterSpec) -> Any:
        return parse_time_ns(value, spec.unit)

    def check_spec(self, spec: ParameterSpec) -> None:
        self.limits_ns(spec)


TIME_CEILING_NS = 24 * 3600 * 1_000_000_000


class SecondsKind(Kind):
    """Whole seconds: 30, '30s', '5m', '1h'. Canonical: an integer number of seconds."""

    name = "duration"
    ceiling: ClassVar[int] = 86_400

    def bounds(self, spec: ParameterSpec) -> tuple[int, int]:
        return (int(spec.min) if spec.min is not None else 1, int(spec.max) if spec.max is not None else self.ceiling)

    def allowed(self, spec: ParameterSpec) -> str:
        low, high = self.bounds(spec)
        return f"whole seconds from {low} to {high}: 30, '30s', '5m'"

    def annotation(self, spec: ParameterSpec) -> Any:
        low, high = self.bounds(spec)

        def check(value: int | str) -> int:
            nanoseconds = parse_time_ns(value, "s")
            if nanoseconds % 1_000_000_000:
                raise ValueError(f"{value!r} is not a whole number of seconds")
            seconds = nanoseconds // 1_000_000_000
            if not low <= seconds <= high:
                raise ValueError(f"{value!r} is outside {low}..{high} seconds")
            return seconds

        return Annotated[int | str, BeforeValidator(_no_bool), AfterValidator(checked(check))]


class IntervalKind(SecondsKind):
    name = "interval"
    ceiling = 3600


class SizeKind(Kind):
    name = "size"

    def allowed(self, spec: ParameterSpec) -> str:
        return "bytes, or a number with k, M or G (powers of 1024), e.g. 4096 or '64k'"

    def annotation(self, spec: ParameterSpec) -> Any:
        low = int(spec.min) if spec.min is not None else 0
        high = int(spec.max) if spec.max is not None else 1 << 40

        def check(value: int | str) -> int:
            size = parse_size(value)
            if not low <= size <= high:
                raise ValueError(f"{value!r} is outside {low}..{high} bytes")
            return size

        return Annotated[int | str, BeforeValidator(_no_bool), AfterValidator(checked(check))]


class SignalKind(Kind):
    name = "signal"

    def allowed(self, spec: ParameterSpec) -> str:
        return "a signal number 1..64 or name, e.g. 9, 'SIGKILL', 'TERM'"

    def annotation(self, spec: ParameterSpec) -> Any:
        def check(value: int | str) -> int:
            if isinstance(value, int):
                number = value
            else:
                name = value.strip().upper()
                name = name if name.startswith("SIG") else "SIG" + name
                member = signal.Signals.__members__.get(name)
                if member is None:
                    raise ValueError(f"{value!r} is not a signal name (e.g. SIGTERM, KILL, USR1)")
                number = int(member)
            if not 1 <= number <= 64:
                raise ValueError(f"{value!r} is not a signal number (1..64)")
            return number

        return Annotated[int | str, BeforeValidator(_no_bool), AfterValidator(checked(check))]


class ProbeKind(Kind):
    name = "probe"

    def allowed(self, spec: ParameterSpec) -> str:
        types = ", ".join(spec.probe_types) if spec.probe_types else "any type"
        return f"a probe pattern TYPE:... ({types}) with '*' wildcards, e.g. tracepoint:syscalls:sys_enter_open*"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[str, Field(max_length=512), AfterValidator(checked(lambda v: parse_probe(v, spec.probe_types)))]

    def check_spec(self, spec: ParameterSpec) -> None:
        unknown = sorted(set(spec.probe_types or ()) - set(SHAPES))
        if unknown:
            raise ValueError(f"unknown probe types {unknown}; known: {', '.join(SHAPES)}")


class BinaryKind(Kind):
    name = "binary"

    def allowed(self, spec: ParameterSpec) -> str:
        return "an absolute path to an ELF executable or library here, or a name found on PATH or as a library (bash, libc)"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(checked(host_values.resolve_binary))]


class CgroupKind(Kind):
    name = "cgroup"

    def allowed(self, spec: ParameterSpec) -> str:
        return "a cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice/ssh.service) or its numeric id"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[int | str, BeforeValidator(_no_bool), AfterValidator(checked(host_values.resolve_cgroup))]

    def render(self, value: Any, spec: ParameterSpec) -> Any:
        return value if isinstance(value, int) else f"cgroupid({string_literal(value)})"


class BlockDeviceKind(Kind):
    name = "block_device"

    def allowed(self, spec: ParameterSpec) -> str:
        return "a block device name (sda, nvme0n1, vda) or MAJOR:MINOR (8:0)"

    def annotation(self, spec: ParameterSpec) -> Any:
        return Annotated[str, Field(max_length=64), AfterValidator(checked(host_values.resolve_block_device))]

    def render(self, value: Any, spec: ParameterSpec) -> Any:
        major, minor = (int(part) for part in value.split(":"))
        return host_values.kernel_dev_t(major, minor)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        IntKind(), PidKind(), BoolKind(), StringKind(), CommKind(), NetDeviceKind(), IdentifierKind(), SymbolKind(),
        EnumKind(), TimeKind(), SecondsKind(), IntervalKind(), SizeKind(), SignalKind(), ProbeKind(), BinaryKind(),
        CgroupKind(), BlockDeviceKind(),
    )
}
