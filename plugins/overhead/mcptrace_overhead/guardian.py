"""Restore kernel.bpf_stats_enabled when the server that switched it on is gone, however it went.

Started by stats.StatsLease with a pipe on stdin: end of file means the server closed it (it released
the sysctl itself, nothing is left to do) or died (SIGKILL included: the kernel closes its end).
Either way the server's pid is released from the state file, which restores the value found first once
no live holder is left.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcptrace_overhead.stats import SysctlState


def main(argv: list[str]) -> int:
    state_dir, server_pid = Path(argv[1]), int(argv[2])
    while sys.stdin.buffer.read(4096):
        pass
    SysctlState(state_dir).release(server_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
