"""Uprobes that can read what encryption protects, or what people type to prove who they are."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, ClassVar

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.models import Severity
from mcptrace_core.program.probespec import USER_TYPES, ProbeSpec
from mcptrace_core.safety.libraries import ObjectIdentifier, ObjectIdentity
from mcptrace_core.safety.models import Finding

if TYPE_CHECKING:
    from mcptrace_core.program.ir import Call, Probe, Program
    from mcptrace_core.safety.engine import RuleContext

TLS_LIBRARIES = re.compile(r"ssl|crypto|gnutls|nss3|nspr4|wolfssl|mbedtls|boringssl|s2n", re.I)
PLAINTEXT_FUNCTIONS = (
    "SSL_read*", "SSL_write*", "SSL_peek*", "BIO_read*", "BIO_write*", "EVP_*Update*", "gnutls_record_recv*",
    "gnutls_record_send*", "PR_Read", "PR_Write", "PR_Recv", "PR_Send", "wolfSSL_read*", "wolfSSL_write*",
    "mbedtls_ssl_read*", "mbedtls_ssl_write*", "s2n_recv*", "s2n_send*", "*PrivateKey*", "*private_decrypt*", "*private_encrypt*",
)
MEMORY_READS = frozenset({"str", "buf", "strncmp", "printf_buf"})
"""Calls that copy user memory into the trace."""

CREDENTIAL_PROGRAMS = frozenset({
    "sshd", "ssh", "ssh-agent", "ssh-add", "sudo", "su", "doas", "login", "passwd", "chpasswd", "newgrp",
    "gpasswd", "chage", "unix_chkpwd", "pkexec", "polkitd", "gpg", "gpg-agent", "pinentry", "vault",
    "keepassxc", "gnome-keyring-daemon", "kwalletd5", "kwalletd6", "1password", "bw", "pass", "openssl",
})
CREDENTIAL_LIBRARIES = re.compile(r"^lib(?:pam|pam_misc|crypt|secret-1|keyutils|sasl2|krb5|gssapi_krb5|gcrypt)\b")
CREDENTIAL_FUNCTIONS = (
    "pam_*", "crypt", "crypt_r", "crypt_rn", "getpass", "readpassphrase", "krb5_*", "gss_*", "sasl_*",
    "secret_*", "keyctl*", "add_key", "request_key",
)
INPUT_FUNCTIONS = ("readline", "rl_*", "getline")


TLS_MARKERS = frozenset({
    "SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "gnutls_record_send", "gnutls_record_recv", "PR_Write",
    "PR_Read", "wolfSSL_write", "wolfSSL_read", "mbedtls_ssl_write", "mbedtls_ssl_read", "s2n_send", "s2n_recv",
    "crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read",
})
"""Any object defining one of these is a TLS library (or a program with one linked in), whatever its name."""
CREDENTIAL_MARKERS = frozenset({
    "pam_authenticate", "pam_start", "crypt", "crypt_r", "krb5_init_context", "gss_init_sec_context",
    "sasl_client_new", "secret_password_lookup_sync", "keyctl_read", "gcry_cipher_open",
})
"""Any object defining one of these handles credentials."""


def _is_address(function: str | None) -> bool:
    """A probe on an address or offset rather than a named function (it may be inside any function)."""
    return bool(function) and (function[0].isdigit() or function.startswith("*"))


def _matches(name: str | None, patterns: Sequence[str]) -> bool:
    """A function name (possibly a wildcard itself) that may be one of ``patterns``."""
    if not name:
        return False
    return any(fnmatchcase(name, pattern) or fnmatchcase(pattern.replace("*", "x"), name) for pattern in patterns)


def _is_tls_data_path(spec: ProbeSpec, identity: ObjectIdentity | None) -> bool:
    """A user probe on a function that handles TLS plaintext or keys (judged by its name in any object: one
    that defines SSL_write is a TLS library), or on any address or wildcard inside a TLS library by identity."""
    if spec.type not in USER_TYPES:
        return False
    function = spec.function or ""
    if function.startswith("crypto/tls.") or _matches(function, PLAINTEXT_FUNCTIONS):
        return True
    return _is_tls_object(identity) and (_is_address(function) or spec.is_wildcard or not function)


def _is_tls_object(identity: ObjectIdentity | None) -> bool:
    if identity is None:
        return False
    return bool(identity.exported & TLS_MARKERS) or any(TLS_LIBRARIES.search(name) for name in identity.names)


def _maps_written(probe: Probe) -> set[str]:
    """Maps the probe stores into (@buf[tid] = arg1): how a buffer pointer travels to another probe."""
    from mcptrace_core.program.ir import Assignment, Index, MapRef, walk  # loaded with the first program

    written = set()
    for node in walk(probe):
        if isinstance(node, Assignment):
            target = node.target.target if isinstance(node.target, Index) else node.target
            if isinstance(target, MapRef):
                written.add(target.name)
    return written


def _memory_reads(probe: Probe, from_maps: set[str] | None) -> Iterator[Call]:
    """Calls of the probe that copy memory; only those reading one of ``from_maps`` unless it is None."""
    from mcptrace_core.program.ir import MapRef, walk

    for call in probe.calls():
        if call.name in MEMORY_READS and (
            from_maps is None or any(isinstance(node, MapRef) and node.name in from_maps for node in walk(call))
        ):
            yield call


class TlsPlaintextRule(SafetyRule):
    id: ClassVar[str] = "tls-plaintext"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "A uprobe on SSL_read/SSL_write (and their kin in other TLS libraries) sees the data before "
        "encryption: copying its buffers captures passwords, tokens and private messages in plain text."
    )
    fix: ClassVar[str] = (
        "Measure calls, sizes and latency (count(), hist(retval), nsecs) without reading the buffers; "
        "capture plaintext only from your own test process, with its owner's consent."
    )

    def __init__(self, objects: ObjectIdentifier | None = None) -> None:
        """:param objects: shared with the other rules that judge uprobe targets (one read per file)."""
        self._identifier = objects or ObjectIdentifier()

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        def tls(spec: ProbeSpec) -> bool:
            identity = self._identifier.identify(spec.target, TLS_MARKERS) if spec.target else None
            return _is_tls_data_path(spec, identity)

        tls_specs = [spec for spec in program.specs if tls(spec)]
        tls_probes = {id(probe): probe for probe in program.probes if any(spec in tls_specs for spec in probe.specs)}
        if not tls_probes:
            return []
        first_spec = tls_specs[0]
        handed_over = set().union(*(_maps_written(probe) for probe in tls_probes.values()))
        for probe in program.probes:
            reads = _memory_reads(probe, None if id(probe) in tls_probes else handed_over)
            call = next(reads, None)
            if call is not None:
                return [self.finding(
                    f"the program traces {first_spec.text} and copies memory with {call.name}(): it can capture "
                    "TLS plaintext or key material", call,
                )]
        return [self.finding(
            f"the program traces {first_spec.text} without reading its buffers (timing only)", first_spec,
            severity=Severity.low,
        )]


class CredentialProgramRule(SafetyRule):
    id: ClassVar[str] = "credential-program"
    severity: ClassVar[Severity] = Severity.high
    rationale: ClassVar[str] = (
        "Programs and libraries that handle logins, passwords and keys (sshd, sudo, PAM, gpg-agent, keyrings) "
        "hold secrets in their arguments and buffers; a uprobe in them can read those secrets."
    )
    fix: ClassVar[str] = (
        "Trace the event from the kernel side instead (tracepoint:syscalls:sys_enter_execve, "
        "tracepoint:sched:sched_process_exec) and do not read arguments of credential functions."
    )

    def __init__(self, objects: ObjectIdentifier | None = None) -> None:
        """:param objects: shared with the other rules that judge uprobe targets (one read per file)."""
        self._identifier = objects or ObjectIdentifier()
        self._build_ids: set[str] | None = None

    def check(self, program: Program, context: RuleContext) -> Sequence[Finding]:
        findings = []
        for spec in program.specs:
            if spec.type not in USER_TYPES:
                continue
            identity = self._identifier.identify(spec.target or "", CREDENTIAL_MARKERS)
            credential_name = next((name for name in identity.names
                                    if name in CREDENTIAL_PROGRAMS or CREDENTIAL_LIBRARIES.match(name)), None)
            if credential_name is None and identity.exported & CREDENTIAL_MARKERS:
                credential_name = f"{identity.path} (it defines {', '.join(sorted(identity.exported))})"
            if credential_name is None and identity.path and self._same_build_as_credential_program(identity):
                credential_name = f"{identity.path} (a copy of a credential program)"
            if credential_name is not None:
                findings.append(self.finding(
                    f"{spec.text} probes {credential_name}, which handles credentials", spec,
                ))
            elif _matches(spec.function, CREDENTIAL_FUNCTIONS):
                findings.append(self.finding(
                    f"{spec.text} probes {spec.function}, a function that handles credentials", spec,
                ))
            elif _matches(spec.function, INPUT_FUNCTIONS):
                findings.append(self.finding(
                    f"{spec.text} captures what people type (a secret typed on a command line included)", spec,
                    severity=Severity.medium,
                ))
        return findings

    def _same_build_as_credential_program(self, identity: ObjectIdentity) -> bool:
        """A copy of sudo under another name has sudo's build-id."""
        if identity.build_id is None:
            return False
        return identity.build_id in self._credential_build_ids()

    def _credential_build_ids(self) -> set[str]:
        if self._build_ids is None:
            import shutil

            found = set()
            for name in sorted(CREDENTIAL_PROGRAMS):
                path = shutil.which(name, path="/usr/bin:/usr/sbin:/bin:/sbin:/usr/lib/openssh")
                if path:
                    build_id = self._identifier.identify(path).build_id
                    if build_id:
                        found.add(build_id)
            self._build_ids = found
        return self._build_ids
