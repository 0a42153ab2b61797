"""#include is judged before bpftrace sees a program, and an included file's words never reach an error."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from mcptrace_core.safety.allowlists import DEFAULT_INCLUDE_DIRS
from mcptrace_core.safety.includes import includes
from mcptrace_core.safety.policies import resolve_policy
from mcptrace_core.services import Services
from mcptrace_bpftrace.validate.compile import compile_check
from mcptrace_bpftrace.validate.validator import validate
from tests.conftest import requires_bpftrace


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, str]:
    """A 0600 file holding a random marker, as a secret would."""
    marker = "MARK" + secrets.token_hex(8)
    path = tmp_path / "secret.txt"
    path.write_text(f"{marker} {marker}\nsecond {marker} line\n")
    path.chmod(0o600)
    return path, marker


def _refused(source: str, cwd: str = "/") -> dict[int, str | None]:
    return {include.line: include.refused for include in includes(source, DEFAULT_INCLUDE_DIRS, cwd)}


def test_system_headers_are_allowed() -> None:
    judged = _refused("#include <linux/sched.h>\n#include <net/sock.h>\n#include <linux/../linux/types.h>\n")
    assert judged == {1: None, 2: None, 3: None}


def test_files_outside_the_header_directories_are_refused(planted: tuple[Path, str], tmp_path: Path) -> None:
    secret, _ = planted
    (tmp_path / "sys.h").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.h")
    source = "\n".join([
        f'#include "{secret}"',
        f"#include <../../../..{secret}>",
        '  %:  include "/etc/shadow"',
        '#inc\\\nlude "/etc/passwd"',
        "#include SECRET_FILE",
        '#include "/dev/zero"',
        '#include "/proc/self/environ"',
        '#include "sys.h"',
        '#include "fifo.h"',
        '#embed "/etc/hostname"',
        '#include_next "/etc/hostname"',
        '#import "/etc/hostname"',
        "struct s {\n#include \"/etc/hostname\"\n};",
        '/* a comment first */ #include "/etc/hostname"',
        '/* a comment\nover lines */ #include "/etc/hostname"',
    ])
    judged = _refused(source, str(tmp_path))
    assert judged and all(judged.values()), judged
    assert len(judged) == 15


def test_includes_in_comments_and_strings_are_not_directives() -> None:
    source = '// #include "/etc/shadow"\n/* #include "/etc/shadow" */\nBEGIN { printf("#include \\"/etc/x\\"\\n"); }\n'
    assert _refused(source) == {}


def test_a_device_under_the_header_directories_is_refused(tmp_path: Path) -> None:
    judged = includes('#include "null"', [str(tmp_path), "/dev"], "/dev")
    assert judged[0].refused and "/dev" in judged[0].refused


@requires_bpftrace
@pytest.mark.anyio
async def test_a_refused_include_never_reaches_bpftrace(services: Services, planted: tuple[Path, str]) -> None:
    secret, marker = planted
    policies = [resolve_policy(services, level) for level in ("strict", "standard", "permissive")]
    for policy in policies:
        report = await validate(services.backend("bpftrace"), f'#include "{secret}"\nBEGIN {{ exit(); }}\n', [policy],
                                services.registry.safety_rules)
        assert report.verdict == "block"
        assert "include-file" in {finding.rule for finding in report.findings}
        compile_layer = next(layer for layer in report.layers if layer.layer == "compile")
        assert compile_layer.state == "skipped"
        assert marker not in report.model_dump_json()


@requires_bpftrace
@pytest.mark.anyio
async def test_an_error_in_an_included_file_does_not_echo_it(services: Services, planted: tuple[Path, str]) -> None:
    """bpftrace itself, asked directly (the gate is bypassed on purpose): its errors quote the file; ours do not."""
    secret, marker = planted
    backend = services.backend("bpftrace")
    argv = [*backend.command(), *backend.executable().check_flags, "-e", f'#include "{secret}"\nBEGIN {{ exit(); }}']
    result = await compile_check(argv, {}, backend.host_facts(), backend.compile_cache.limiter)
    assert result.errors, "bpftrace accepted a file of words as a header"
    text = " ".join(error.model_dump_json() for error in result.errors) + " ".join(result.warnings)
    assert marker not in text
    assert str(secret) in text  # the place is still named


TRIXIE = Path("/var/cache/mcptrace-ci/trixie")


@pytest.mark.skipif(not (TRIXIE / "usr/bin/bpftrace").exists() or not (TRIXIE / "proc/self").exists()
                    or os.geteuid() != 0,
                    reason=f"needs root and the Debian 13 root with bpftrace 0.23 mounted at {TRIXIE} "
                    "(.ci/run builds and mounts it)")
def test_bpftrace_0_23_errors_in_an_included_file_do_not_echo_it() -> None:
    """bpftrace 0.23 (in the Debian 13 root) quotes the included file too; the error reader still does not."""
    import subprocess

    from mcptrace_bpftrace.stderr import HostFacts, keep_line, parse_errors

    marker = "MARK" + secrets.token_hex(8)
    inside = TRIXIE / "tmp" / f"mcptrace-include-{secrets.token_hex(6)}"
    inside.write_text(f"{marker} {marker}\n")
    inside.chmod(0o600)
    try:
        program = f'#include "/tmp/{inside.name}"\nBEGIN {{ exit(); }}'
        completed = subprocess.run(["chroot", str(TRIXIE), "bpftrace", "--dry-run", "-e", program],
                                   capture_output=True, text=True, timeout=120)
    finally:
        inside.unlink()
    lines = completed.stderr.splitlines()
    assert any(marker in line for line in lines), "bpftrace 0.23 no longer quotes the file: the test proves nothing"
    errors = parse_errors(lines, completed.returncode, HostFacts(kprobes_usable=False))
    assert errors and marker not in " ".join(error.model_dump_json() for error in errors)
    assert not [line for line in lines if keep_line(line) and marker in line]


@requires_bpftrace
@pytest.mark.anyio
async def test_a_policy_that_narrows_include_dirs_holds_for_validate_and_exec(tmp_path: Path) -> None:
    from tests.validation_support import mcp_client, settings_with

    policy = tmp_path / "narrow.toml"
    policy.write_text(f'name = "narrow"\nextends = "standard"\ninclude_dirs = ["{tmp_path}"]\n')
    settings = settings_with(tmp_path, safety={"level": "narrow", "policy_file": str(policy)})
    program = '#include "/usr/include/linux/types.h"\nBEGIN { exit(); }'  # a system header, not this policy's
    async with mcp_client(settings) as (client, _):
        report = (await client.call_tool("validate_program", {"program": program})).structured_content
        started = await client.call_tool("exec_program", {"program": program, "wait": True})
    assert not report["valid"] and any("#include refused" in error["message"] for error in report["errors"])
    assert started.is_error and "#include refused" in started.content[0].text
