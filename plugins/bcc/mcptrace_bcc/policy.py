"""The safety decision for running a BCC tool with some arguments: allow, confirm or block.

This is the one place where that decision is taken; the safety policy engine plugs in here. Until then
the built-in rules below apply, plus ``bcc.deny`` from the settings:

- block: tools that change the system rather than observe it, and tools the configuration denies;
- confirm: tools that capture what people type or read (keystrokes, terminal output, decrypted TLS),
  and tools whose arguments are compiled as C into the BPF program (they can call any BPF helper,
  including ones that write user memory or send signals);
- allow: everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

Verdict = Literal["allow", "confirm", "block"]

CHANGES_STATE = {
    "reset-trace": "resets the kernel's tracing state (disables every ftrace/kprobe/uprobe event in tracefs)",
    "inject": "makes kernel functions fail on purpose (error injection)",
}
CAPTURES_CONTENT = {
    "sslsniff": "captures the plaintext of TLS connections (passwords, tokens, private data)",
    "ttysnoop": "captures everything shown on another terminal, passwords included",
    "bashreadline": "captures every command typed in bash shells, secrets included",
}
COMPILES_ARGUMENTS = {
    "trace": "its probe arguments are C code compiled into the BPF program",
    "argdist": "its specifiers are C expressions compiled into the BPF program",
}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(tool: str, base_name: str, arguments: Mapping[str, Any], deny: Sequence[str]) -> Decision:
    """The verdict for running ``tool`` (whose name without a -bpfcc suffix is ``base_name``)."""
    for pattern in deny:
        if fnmatchcase(tool, pattern) or fnmatchcase(base_name, pattern):
            return Decision("block", f"the configuration forbids it (bcc.deny matches {pattern!r})")
    if base_name in CHANGES_STATE:
        reason = f"{base_name} {CHANGES_STATE[base_name]}: it changes the system, it does not observe it"
        return Decision("block", reason)
    if base_name in CAPTURES_CONTENT:
        return Decision("confirm", f"{base_name} {CAPTURES_CONTENT[base_name]}")
    if base_name in COMPILES_ARGUMENTS and arguments:
        return Decision("confirm", f"{base_name}: {COMPILES_ARGUMENTS[base_name]}")
    return Decision("allow", "observes only")
