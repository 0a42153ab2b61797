"""The built-in safety rules, one module per concern: programs, and runs of installed tools (``tools``)."""

from __future__ import annotations

from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.safety.libraries import ObjectIdentifier

from mcptrace_safety.rules.attach import SamplingFrequencyRule, WildcardAttachRule
from mcptrace_safety.rules.builtins import UnsafeBuiltinRule
from mcptrace_safety.rules.content import ContentCaptureRule
from mcptrace_safety.rules.duration import RunDurationRule
from mcptrace_safety.rules.files import SensitiveFileRule
from mcptrace_safety.rules.includes import IncludeFileRule
from mcptrace_safety.rules.output import HotProbeOutputRule
from mcptrace_safety.rules.secrets import CREDENTIAL_MARKERS, TLS_MARKERS, CredentialProgramRule, TlsPlaintextRule
from mcptrace_safety.rules.tools import ToolCapturesContentRule, ToolChangesStateRule, ToolCompilesCodeRule


def builtin_rules() -> list[SafetyRule]:
    objects = ObjectIdentifier(always=TLS_MARKERS | CREDENTIAL_MARKERS)  # each uprobe target read once
    return [
        UnsafeBuiltinRule(),
        SensitiveFileRule(),
        IncludeFileRule(),
        WildcardAttachRule(),
        SamplingFrequencyRule(),
        HotProbeOutputRule(),
        ContentCaptureRule(),
        TlsPlaintextRule(objects),
        CredentialProgramRule(objects),
        RunDurationRule(),
        ToolChangesStateRule(),
        ToolCapturesContentRule(),
        ToolCompilesCodeRule(),
    ]
