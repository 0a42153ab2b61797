"""cat() reads any file as root (bpftrace does not count it as unsafe): keep secrets out of traces."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Program
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
    id: ClassVar[str] = "sensitive-file-read"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "cat() reads any file as root and prints it into the trace output, which an assistant reads: a "
        "password hash, a private key or a process environment must not end up there."
    )
    fix: ClassVar[str] = "Read only the /proc or /sys file that answers the question; never key or credential files."

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        for call in program.calls("cat"):
            path = call.string_arg(0)
            if path is None:
                findings.append(self.finding(
                    "cat() reads a file whose name is not a string literal", call, severity=Severity.high,
                ))
                continue
            if "%s" in path:
                findings.append(self.finding(
                    f"cat({path!r}) reads a file whose name comes from traced data: it can read any file as root",
                    call, severity=Severity.high,
                ))
            hit = sensitive_path(path)
            if hit is not None:
                severity, what = hit
                findings.append(self.finding(f"cat({path!r}) reads {what}", call, severity=severity))
        return findings


def sensitive_path(path: str) -> tuple[Severity, str] | None:
    """Severity and description of the secret at ``path`` (format specifiers count as any text)."""
    pattern = _FORMAT_SPEC.sub("*", path)
    normal = posixpath.normpath("/" + pattern.lstrip("/")) if pattern.startswith("/") else posixpath.normpath(pattern)
    for candidate, severity, what in SENSITIVE_PATHS:
        if fnmatchcase(normal, candidate):
            return severity, what
    return None
