"""Stopping a run right after it starts, as the example CI check (and an impatient user) does.

bpftrace 0.17 prints its "attached" line before it attaches and drops a SIGINT that arrives during
attaching; a program whose probes rarely fire then sleeps until its next event. The run manager
repeats SIGINT during the grace period for bpftrace, so such a run stops with its maps instead of
being killed at the end of the grace period.
"""

from __future__ import annotations

import pytest

from mcptrace_core.runs.models import RunStatus
from mcptrace_core.services import Services
from tests.conftest import requires_bpftrace

pytestmark = [pytest.mark.anyio, requires_bpftrace, pytest.mark.bpftrace]

QUIET_PROGRAM = """
tracepoint:sched:sched_process_hang { @hangs = count(); }
tracepoint:block:block_rq_error { @errors = count(); }
"""


async def test_a_quiet_program_stopped_while_attaching_stops_cleanly(services: Services) -> None:
    spec = services.backend("bpftrace").run_spec(QUIET_PROGRAM, timeout_s=60)
    run = await services.runs.start(spec)
    while run.attached_probes is None and not run.status.finished:
        await run.wait_changed(0.1)
    stopped = await services.runs.stop(run.id)  # at once: bpftrace is still attaching
    assert stopped.status is RunStatus.stopped, stopped.stop_note
    assert stopped.exit_code == 0 and stopped.duration_s < 10
