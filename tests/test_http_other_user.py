"""The HTTP transport as another, unprivileged user on the same machine sees it: nothing without the token,
nothing with a wrong or weak one, no token file to read, and no foreign Host or Origin on any loopback address."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_http import _serve_http, _stop, _token_of

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("setpriv") is None,
    reason="needs root, useradd and setpriv to act as a second user",
)

CLIENT = r"""
import json, sys, urllib.request, urllib.error
url, headers = sys.argv[1], json.loads(sys.argv[2])
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "intruder", "version": "0"}}}).encode()
request = urllib.request.Request(url, data=body, method="POST", headers={
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
try:
    with urllib.request.urlopen(request, timeout=20) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
"""

READER = r"""
import sys
try:
    open(sys.argv[1]).read()
    print("read")
except OSError as error:
    print(type(error).__name__)
"""


@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    name = f"mcptrace-http-{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def _as(user: pwd.struct_passwd, script: str, *args: str) -> str:
    python = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    result = subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--",
         python, "-I", "-c", script, *args],
        capture_output=True, text=True, timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _status(user: pwd.struct_passwd, url: str, headers: dict[str, str]) -> int:
    return int(_as(user, CLIENT, url, json.dumps(headers)))


def test_another_user_gets_nothing_without_the_token(tmp_path: Path, other_user: pwd.struct_passwd) -> None:
    server, port = _serve_http(tmp_path, "")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        token = _token_of(server)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer a"},
                        {"Authorization": f"Bearer {token[:-1]}"}, {"Authorization": token}):
            assert _status(other_user, url, headers) == 401, headers
        token_file = Path(os.environ["XDG_CONFIG_HOME"]) / "mcptrace" / "http-token"
        assert _as(other_user, READER, str(token_file)) == "PermissionError"
        assert _status(other_user, url, {"Authorization": f"Bearer {token}"}) == 200  # the control: it answers
    finally:
        _stop(server)


def test_a_foreign_host_or_origin_is_refused_on_another_loopback_address(
    tmp_path: Path, other_user: pwd.struct_passwd
) -> None:
    server, port = _serve_http(tmp_path, "", "--host", "127.0.0.2")
    url = f"http://127.0.0.2:{port}/mcp"
    try:
        bearer = {"Authorization": f"Bearer {_token_of(server)}"}
        assert _status(other_user, url, {}) == 401
        assert _status(other_user, url, {**bearer, "Host": "evil.example"}) == 421
        assert _status(other_user, url, {**bearer, "Host": f"evil.example:{port}"}) == 421
        assert _status(other_user, url, {**bearer, "Origin": "http://evil.example"}) == 403
        assert _status(other_user, url, {**bearer, "Origin": f"http://127.0.0.2:{port}"}) == 200
        assert _status(other_user, url, bearer) == 200
    finally:
        _stop(server)


UNIX_CLIENT = r"""
import json, socket, sys
path, token = sys.argv[1], sys.argv[2]
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "neighbour", "version": "0"}}}).encode()
request = (f"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           f"Accept: application/json, text/event-stream\r\nAuthorization: Bearer {token}\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
connection = socket.socket(socket.AF_UNIX)
connection.settimeout(20)
try:
    connection.connect(path)
    connection.sendall(request)
    answer = connection.recv(64)
except OSError as error:
    print(type(error).__name__)
else:
    print(answer.split(b" ")[1].decode() if answer else "closed")
"""


def test_a_unix_socket_serves_only_its_own_user(tmp_path: Path, other_user: pwd.struct_passwd) -> None:
    import sys
    import tempfile
    import time

    folder = Path(tempfile.mkdtemp(prefix="mcptrace-sock-"))
    folder.chmod(0o755)  # reachable by everyone: only the peer check keeps the neighbour out
    path = folder / "mcptrace.sock"
    config = tmp_path / "config.toml"
    config.write_text("")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mcptrace")), "serve", "--transport", "http", "--unix-socket", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "MCPTRACE_CONFIG": str(config)})
    try:
        token = _token_of(server)
        deadline = time.monotonic() + 30
        while not path.exists():
            assert time.monotonic() < deadline and server.poll() is None, "the server did not listen"
            time.sleep(0.1)
        time.sleep(0.5)
        assert _as(other_user, UNIX_CLIENT, str(path), token) in ("closed", "ConnectionResetError", "BrokenPipeError")
        mine = subprocess.run([sys.executable, "-I", "-c", UNIX_CLIENT, str(path), token],
                              capture_output=True, text=True, timeout=60)
        assert mine.stdout.strip() == "200", mine.stderr
        wrong = subprocess.run([sys.executable, "-I", "-c", UNIX_CLIENT, str(path), "not-the-token"],
                               capture_output=True, text=True, timeout=60)
        assert wrong.stdout.strip() == "401"
    finally:
        _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
