"""cat() reads any file as root (bpftrace does not count it as unsafe): keep secrets out of traces."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.ir import Integer, String
from mcptrace_core.safety.models import Finding
from mcptrace_core.safety.paths import matches, resolve_path

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Node, Program
    from mcptrace_core.safety.engine import RuleContext

# (pattern over the normalised path, severity, what it holds); the first match wins.
SENSITIVE_PATHS: tuple[tuple[str, Severity, str], ...] = (
    ("/etc/shadow*", Severity.critical, "password hashes"),
    ("/etc/gshadow*", Severity.critical, "group password hashes"),
    ("/etc/sudoers*", Severity.critical, "privilege rules"),
    ("/etc/security/opasswd", Severity.critical, "old password hashes"),
    ("/etc/ssh/ssh_host_*key", Severity.critical, "the SSH host private key"),
    ("*/.ssh/*", Severity.critical, "SSH keys"),
    ("*/.gnupg/*", Severity.critical, "GnuPG keys"),
    ("/etc/ssl/private/*", Severity.critical, "TLS private keys"),
    ("/etc/pki/*private*", Severity.critical, "TLS private keys"),
    ("/etc/krb5.keytab", Severity.critical, "Kerberos keys"),
    ("*/.aws/credentials", Severity.critical, "cloud credentials"),
    ("*/.config/gcloud/*", Severity.critical, "cloud credentials"),
    ("*/.azure/*", Severity.critical, "cloud credentials"),
    ("*/.kube/config", Severity.critical, "cluster credentials"),
    ("*/.docker/config.json", Severity.critical, "registry credentials"),
    ("*/.netrc", Severity.critical, "login credentials"),
    ("*/.pgpass", Severity.critical, "database passwords"),
    ("*/.my.cnf", Severity.critical, "database passwords"),
    ("/run/secrets/*", Severity.critical, "mounted secrets"),
    ("/var/run/secrets/*", Severity.critical, "mounted secrets"),
    ("/proc/*/environ", Severity.critical, "process environments (tokens, passwords)"),
    ("/proc/*/mem", Severity.critical, "process memory"),
    ("/proc/kcore", Severity.critical, "kernel memory"),
    ("/dev/mem", Severity.critical, "physical memory"),
    ("/dev/kmem", Severity.critical, "kernel memory"),
    ("/dev/port", Severity.critical, "I/O ports"),
    ("/sys/firmware/*", Severity.high, "firmware tables"),
    ("*.key", Severity.high, "what looks like a private key"),
    ("*.pem", Severity.high, "certificates or private keys"),
    ("*.p12", Severity.high, "a key store"),
    ("*.pfx", Severity.high, "a key store"),
    ("*.kdbx", Severity.high, "a password database"),
    ("/root/*", Severity.high, "root's private files"),
    ("/proc/*/cmdline", Severity.medium, "command lines (which sometimes carry passwords)"),
)
_FORMAT_SPEC = re.compile(r"%[-+ #0-9.]*[a-zA-Z]")


class SensitiveFileRule(SafetyRule):
    """cat() is judged by the file its path resolves to, against the policy's ``readable_files``.

    A known secret (the list above, matched on the path as written and as resolved) keeps its severity
    (critical: refused everywhere); any other file that is not a listed statistic, and any path that
    cannot be resolved before the run (format specifiers, another process's cwd or fds), is high:
    confirmed under standard, refused under strict.
    """

    id: ClassVar[str] = "sensitive-file-read"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "cat() reads any file as root and prints it into the trace output, which an assistant reads: a "
        "password hash, a private key or a process environment must not end up there. Only world-readable "
        "statistics are read without asking."
    )
    fix: ClassVar[str] = (
        "Read only a /proc or /sys statistics file (the policy's readable_files), by its literal path; never "
        "key or credential files."
    )

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        allowed = context.policy.readable_files
        findings = []
        for call in program.calls("cat"):
            written = call.string_arg(0)
            if written is None:
                findings.append(self.finding(
                    "cat() reads a file whose name is not a string literal: it can read any file as root", call,
                ))
                continue
            # cat() formats its name like printf: with literal arguments the name is known ("/etc/sh%cdow", 97)
            path = render_literal_format(written, call.args[1:])
            if path is None:
                path = written
            resolved = resolve_path(path)  # from the server's working directory, which bpftrace inherits
            hits = [hit for hit in (sensitive_path(path), resolved.known and sensitive_path(resolved.path)) if hit]
            if hits:
                severity, what = max(hits, key=lambda hit: hit[0].rank)
                via = f" (it resolves to {resolved.path})" if resolved.path not in (None, path) else ""
                findings.append(self.finding(
                    f"cat({path!r}) reads {what}{via}", call, severity=max(severity, Severity.high, key=_rank),
                ))
            elif not resolved.known:
                findings.append(self.finding(
                    f"cat({path!r}) reads a file that cannot be known before the run: {resolved.reason}", call,
                ))
            elif not any(matches(resolved.path, pattern) for pattern in allowed):
                findings.append(self.finding(
                    f"cat({path!r}) reads {resolved.path}, which is not a statistics file the policy lets a "
                    "program read (readable_files)", call,
                ))
        # Reading a file is never waved through, not even by the permissive policy's severity levels.
        return [finding.model_copy(update={"requires_confirmation": True}) for finding in findings]


_CONVERSION = re.compile(r"%(?P<flags>[-+ #0-9.]*)(?:hh|h|ll|l|z|j|t)?(?P<conversion>[a-zA-Z%])")


MAX_PATH_BYTES = 4096
"""PATH_MAX: a field width beyond it names no file."""


def render_literal_format(text: str, args: Sequence[Node]) -> str | None:
    """``text`` formatted with ``args`` when each specifier takes a literal (a string for %s, an integer for
    %d %u %x %o %c); None when any value is decided at run time (or the format is one we do not know)."""
    values = list(args)
    failed = False

    def fill(match: re.Match[str]) -> str:
        nonlocal failed
        conversion, flags = match["conversion"], match["flags"]
        if conversion == "%":
            return "%"
        if not values:
            failed = True
            return ""
        value = values.pop(0)
        if any(int(width) > MAX_PATH_BYTES for width in re.findall(r"\d+", flags)):
            failed = True  # "%999999999s" would have the server build a gigabyte; no path is that long
            return ""
        try:
            if conversion == "s" and isinstance(value, String):
                return f"%{flags}s" % value.value
            if conversion in "diucxXo" and isinstance(value, Integer) and value.value is not None:
                return f"%{flags}{'d' if conversion == 'u' else conversion}" % value.value
        except (TypeError, ValueError, OverflowError):
            pass
        failed = True
        return ""

    rendered = _CONVERSION.sub(fill, text)
    return None if failed or values else rendered


def _rank(severity: Severity) -> int:
    return severity.rank


def sensitive_path(path: str) -> tuple[Severity, str] | None:
    """Severity and description of the secret at ``path`` (format specifiers count as any text)."""
    pattern = _FORMAT_SPEC.sub("*", path)
    normal = posixpath.normpath("/" + pattern.lstrip("/")) if pattern.startswith("/") else posixpath.normpath(pattern)
    for candidate, severity, what in SENSITIVE_PATHS:
        if fnmatchcase(normal, candidate):
            return severity, what
    return None
