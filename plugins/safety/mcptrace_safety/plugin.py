"""Entry point of the safety plugin (``mcptrace`` group, name ``safety``)."""

from __future__ import annotations

from mcptrace_core import hookimpl
from mcptrace_core.interfaces import SafetyRule
from mcptrace_core.safety.models import SafetyPolicy

from mcptrace_safety.policies import builtin_policies
from mcptrace_safety.rules import builtin_rules


@hookimpl
def mcptrace_safety_rules() -> list[SafetyRule]:
    return builtin_rules()


@hookimpl
def mcptrace_safety_policies() -> list[SafetyPolicy]:
    return builtin_policies()
