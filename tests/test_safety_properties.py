"""Property tests: however a path or a probe spec is spelled, the verdict is never more permissive than the
verdict of its plain form (hypothesis generates the spellings; files and links are real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcptrace_core.program.parser import ProgramSyntaxError, parse_program
from mcptrace_core.program.probespec import PROBE_TYPE_ALIASES
from mcptrace_core.safety.engine import RuleContext, decide, evaluate
from mcptrace_core.safety.models import VERDICTS
from mcptrace_safety.policies import builtin_policies
from mcptrace_safety.rules import builtin_rules
from tests.safety_hostile import Planted, plant

POLICIES = builtin_policies()
RULES = builtin_rules()


def verdicts(program_text: str) -> tuple[int, ...]:
    """The verdict rank under each built-in policy; a program mcptrace cannot parse is refused (as validation does)."""
    try:
        program = parse_program(program_text)
    except ProgramSyntaxError:
        return tuple(VERDICTS.index("block") for _ in POLICIES)
    return tuple(VERDICTS.index(decide(evaluate(program, RULES, RuleContext(policy)), policy)) for policy in POLICIES)


def never_looser(obfuscated: tuple[int, ...], plain: tuple[int, ...]) -> bool:
    return all(got >= want for got, want in zip(obfuscated, plain))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    directory = tmp_path_factory.mktemp("properties")
    (directory / "rootlink").symlink_to("/")
    (directory / "etclink").symlink_to("/etc")
    return plant(directory)


def _escape(text: str, which: list[bool]) -> str:
    """Some characters written as octal or hex escapes, which the literal's value resolves."""
    out = []
    for index, char in enumerate(text):
        flag = which[index % len(which)] if which else False
        out.append(f"\\x{ord(char):02x}" if flag and char.isalnum() else char)
    return "".join(out)


def _literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"') if "\\x" not in text else text.replace('"', '\\"')


TRANSFORMS = st.lists(st.sampled_from(["dot", "double-slash", "dotdot", "proc-self-root", "proc-1-root",
                                       "thread-self-root", "root-link", "relative", "etc-link"]), max_size=4)


def _obfuscate(path: str, steps: list[str], directory: str, cwd: str) -> str:
    for step in steps:
        if step == "dot":
            path = path.replace("/", "/./", 1)
        elif step == "double-slash":
            path = path.replace("/", "//", 1)
        elif step == "dotdot" and path.count("/") >= 2:
            head, _, tail = path.rpartition("/")
            parent = head.rsplit("/", 1)[-1] or "."
            path = f"{head}/../{parent}/{tail}" if head else path
        elif step == "proc-self-root" and path.startswith("/"):
            path = "/proc/self/root" + path
        elif step == "proc-1-root" and path.startswith("/"):
            path = "/proc/1/root" + path
        elif step == "thread-self-root" and path.startswith("/"):
            path = "/proc/thread-self/root" + path
        elif step == "root-link" and path.startswith("/"):
            path = f"{directory}/rootlink" + path
        elif step == "etc-link" and path.startswith("/etc/"):
            path = f"{directory}/etclink/" + path[len("/etc/"):]
        elif step == "relative" and path.startswith("/"):
            path = "../" * (cwd.count("/") + 2) + path.lstrip("/")
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["/etc/shadow", "planted", "/proc/loadavg", "/etc/hostname", "/proc/self/environ"]),
       steps=TRANSFORMS, escapes=st.lists(st.booleans(), max_size=5), by_format=st.booleans())
def test_an_obfuscated_path_is_never_judged_more_leniently(planted: Planted, target: str, steps: list[str],
                                                           escapes: list[bool], by_format: bool) -> None:
    plain_path = planted.values["planted"] if target == "planted" else target
    directory = str(Path(planted.values["planted"]).parent)
    cwd = os.getcwd()
    obfuscated = _escape(_obfuscate(plain_path, steps, directory, cwd), escapes)
    plain = verdicts(f'BEGIN {{ cat("{plain_path}"); exit(); }}')
    call = f'cat("%s", "{obfuscated}")' if by_format else f'cat("{obfuscated}")'
    assert never_looser(verdicts(f"BEGIN {{ {call}; exit(); }}"), plain), (obfuscated, by_format)


SPECS = ["interval:us:1", "interval:ms:1", "profile:hz:99999", "profile:hz:5000", "tracepoint:raw_syscalls:sys_enter",
         "tracepoint:sched:sched_switch", "software:cpu-clock:100"]
_SHORT = {full: [alias for alias, name in PROBE_TYPE_ALIASES.items() if name == full] for full in
          ("interval", "profile", "tracepoint", "software")}


@st.composite
def spellings(draw: st.DrawFn, spec: str) -> str:
    kind, *parts = spec.split(":")
    kind = draw(st.sampled_from([kind, *_SHORT[kind]]))
    written = []
    for part in parts:
        style = draw(st.sampled_from(["plain", "quoted", "padded", "half"]))
        if style == "quoted":
            part = f'"{part}"'
        elif style == "padded":
            part = f'" {part} "'
        elif style == "half" and len(part) > 1:
            part = f'"{part[:1]}"{part[1:]}'
        written.append(part)
    return ":".join([kind, *written])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), spec=st.sampled_from(SPECS), body=st.sampled_from([
    'printf("x\\n");', "@[comm] = count();", 'if (1) { printf("x\\n"); }',
]))
def test_a_respelled_probe_spec_is_never_judged_more_leniently(data: st.DataObject, spec: str, body: str) -> None:
    written = data.draw(spellings(spec))
    plain = verdicts(f"{spec} {{ {body} }}")
    assert never_looser(verdicts(f"{written} {{ {body} }}"), plain), written
