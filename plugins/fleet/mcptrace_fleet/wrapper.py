"""The remote side of a fleet run: a fixed POSIX sh script that runs the tracer and dies with its channel.

Over SSH a command is a string the remote login shell parses, so nothing the caller wrote ever goes
into it: the string is built with ``shlex.join`` from fixed words (the script below, the run's hex tag,
the tracer's path from the config and fixed flags). The program travels on stdin, length-prefixed, into
a private temporary file. After it, stdin is the control channel: ``stop`` sends SIGINT to the tracer's
process group (it prints its maps and exits), ``kill`` sends SIGKILL; end of file, which is what the
remote side sees when the channel closes (client killed, network cut, connection dropped), kills the
group at once. The tracer runs under ``setsid`` so the group holds it and everything it starts.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

TAG_PREFIX = "mcptrace-fleet-"
"""The temporary directory of a run is /tmp/mcptrace-fleet-<tag>.XXXXXX: tests find leftovers by it."""

SCRIPT = r"""
umask 077
tag=$1; shift
dir=$(mktemp -d "/tmp/mcptrace-fleet-$tag.XXXXXX") || exit 125
trap 'rm -rf "$dir"' EXIT
IFS= read -r size || exit 125
case $size in ''|*[!0-9]*) echo "mcptrace-fleet: bad program size" >&2; exit 125;; esac
if [ "$size" -gt 0 ]; then
  dd bs=1 count="$size" of="$dir/program" 2>/dev/null || exit 125
  set -- "$@" "$dir/program"
fi
exec 3<&0
setsid "$@" </dev/null &
pid=$!
(
  while IFS= read -r line; do
    case $line in
      stop) kill -INT "-$pid" 2>/dev/null ;;
      kill) kill -KILL "-$pid" 2>/dev/null ;;
    esac
  done
  kill -KILL "-$pid" 2>/dev/null
) <&3 &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill -KILL "-$pid" 2>/dev/null
kill "$watcher" 2>/dev/null
exit $status
"""

STOP = b"stop\n"
KILL = b"kill\n"


def remote_command(
    tag: str, argv: Sequence[str], env: Mapping[str, str] | None = None, sudo: bool = False
) -> str:
    """The command string sent over SSH: fixed words only, each quoted for the remote shell.

    :param tag: the run's id, hex only (it names the remote temporary directory).
    :param argv: the tracer and its fixed flags; the program file is appended by the script.
    :param env: BPFTRACE_* limits, given through ``env`` (sudo would drop them from the environment).
    :param sudo: prefix ``sudo -n`` (the login is not root; never prompts: no password is ever sent).
    """
    if not tag.isalnum():
        raise ValueError(f"run tag {tag!r} must be alphanumeric")
    words = ["sudo", "-n"] if sudo else []
    words += ["sh", "-c", SCRIPT, "mcptrace-fleet", tag]
    if env:
        words += ["env", *(f"{name}={value}" for name, value in sorted(env.items()))]
    words += list(argv)
    return shlex.join(words)


def payload(program: str | None) -> bytes:
    """What the script reads first from stdin: the program's size in bytes, a newline, the program."""
    data = program.encode("utf-8") if program else b""
    return f"{len(data)}\n".encode("ascii") + data
