"""What a BCC tool is, as learned from the host: its options and arguments, and whether it runs here.

These models are cached on disk and returned by list_bcc_tools, so they are plain pydantic data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcptrace_core.models import Model

ToolKind = Literal["libbpf", "bcc-python"]
"""libbpf: a CO-RE tool (compiled once, needs kernel BTF); bcc-python: compiles C at run time (needs headers)."""

ValueType = Literal["flag", "int", "str"]


class ToolOption(Model):
    """One option of a tool, e.g. ``-p PID, --pid PID``."""

    name: str = Field(description="The key to use in `arguments`, e.g. 'pid' (the long name, '-' read as '_').")
    flags: list[str] = Field(description="The spellings the tool accepts, e.g. ['-p', '--pid'].")
    value: ValueType = Field(description="flag: true/false; int: a whole number; str: a text.")
    metavar: str | None = Field(default=None, description="The tool's name for the value, e.g. 'PID'.")
    optional_value: bool = Field(default=False, description="The value may be left out (the option alone).")
    choices: list[str] | None = Field(default=None, description="The only values the tool accepts, when it says.")
    help: str = Field(default="", description="The tool's own description of the option.")


class ToolPositional(Model):
    """One positional argument, e.g. ``[interval]``."""

    name: str = Field(description="The key to use in `arguments`, e.g. 'interval'.")
    value: Literal["int", "str"]
    required: bool
    help: str = ""
    choices: list[str] | None = Field(default=None, description="The only values the tool accepts, when it says.")


class ToolSchema(Model):
    """A tool's calling convention, parsed from its --help (or its header comment)."""

    description: str = Field(description="What the tool does, in its own words.")
    usage: str = Field(default="", description="Its usage line.")
    options: list[ToolOption] = Field(default_factory=list)
    positionals: list[ToolPositional] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list, description="Example command lines from its help.")
    manual: str = Field(
        default="", description="What its installed manual page says it is for (empty when none is installed)."
    )
    style: Literal["argparse", "argp", "comment", "unknown"] = Field(
        description="How the help was written; 'unknown' when it could not be read (no options known)."
    )

    def option(self, name: str) -> ToolOption | None:
        return next((option for option in self.options if option.name == name), None)

    def positional(self, name: str) -> ToolPositional | None:
        return next((positional for positional in self.positionals if positional.name == name), None)


class Usability(Model):
    """Whether a tool runs on this host, measured by a trial run once per boot."""

    usable: bool | None = Field(
        description="true: it attached here; false: it cannot run here (see reason); null: not tried yet, or "
        "it needs arguments to be tried (it is tried when run)."
    )
    reason: str = Field(description="What the trial saw, e.g. 'needs kprobes, which this kernel lacks'.")
    needs: str | None = Field(
        default=None,
        description="What stands in the way: kprobes, fentry, kernel_headers, btf, kernel_function, kernel_struct, "
        "kernel_config, perf_hardware, cpufreq, verifier, terminal, permission, python_bcc, arguments, policy "
        "(never tried: running it changes the host, or bcc.deny names it) or unknown.",
    )
    fix: str | None = Field(default=None, description="What would make it run, when something can.")
