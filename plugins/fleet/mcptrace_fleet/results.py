"""How a fleet run is shown: the run tools' usual result (merged) plus a ``fleet`` part with every host."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import Field

from mcptrace_core.models import Model, TraceMap
from mcptrace_core.runs.results import ExecutionResult, StatusName, execution_result

from mcptrace_fleet.fleetrun import FleetRun
from mcptrace_fleet.hostrun import HostRun


class FleetHost(Model):
    host: str
    address: str | None = Field(description="Where it was reached (None: its name, through the ssh config).")
    login: str | None = Field(description="The SSH login; not root means the run went through sudo -n.")
    status: StatusName
    phase: str = Field(description="connecting, running or ended.")
    error: str | None = Field(description="Why this host failed (unreachable, refused key, no sudo, bpftrace error).")
    exit_code: int | None
    attached_probes: int | None
    total_lines: int
    lost_events: int
    duration_s: float
    maps: list[TraceMap] | None = Field(
        description="This host's own maps: in stop_execution's result and on the last page of an ended run; a "
        "get_result call that names hosts in `hosts` gets theirs only. Null otherwise: a page carries the "
        "merged maps in `maps`, not every host's again."
    )


class FleetReport(Model):
    hosts: list[FleetHost] = Field(description="Every host: status, error, and (see there) its maps.")
    unmerged: list[str] = Field(description="Maps left out of the merged `maps`, and why (see each host's maps).")
    counts: dict[str, int] = Field(description="How many hosts are in each status.")


FLEET_FIELD = (
    FleetReport | None,
    Field(None, description="A fleet run (hosts given): each host; the result's `maps` are all hosts' maps merged "
                            "(counts/sums added, buckets added, min/max/stats combined exactly)."),
)


def host_view(host_run: HostRun, with_maps: bool) -> FleetHost:
    return FleetHost(
        host=host_run.host.name, address=host_run.host.address, login=host_run.login,
        status=host_run.status.value, phase=host_run.phase, error=host_run.error, exit_code=host_run.exit_code,
        attached_probes=host_run.attached_probes, total_lines=host_run.output.total,
        lost_events=host_run.lost_events, duration_s=host_run.duration_s,
        maps=list(host_run.maps.values()) if with_maps else None,
    )


def fleet_report(run: FleetRun, maps_of: Collection[str]) -> FleetReport:
    """Every host's state, with the maps of the hosts named in ``maps_of``."""
    _, unmerged = run.merged()
    counts: dict[str, int] = {}
    for host_run in run.hosts.values():
        counts[host_run.status.value] = counts.get(host_run.status.value, 0) + 1
    hosts = [host_view(host_run, name in maps_of) for name, host_run in run.hosts.items()]
    return FleetReport(hosts=hosts, unmerged=unmerged, counts=counts)


def final_page(run: FleetRun, page: ExecutionResult) -> bool:
    """The page that ends an ended run's output: it carries every host's final maps, once."""
    return run.status.finished and not page.has_more


def fleet_execution(run: FleetRun, offset: int, limit: int, only: list[str] | None = None) -> ExecutionResult:
    """The run as a local run's result: interleaved lines (or one host's own), merged maps, every error."""
    if only is not None and len(only) == 1 and only[0] in run.hosts:
        result = execution_result(run.hosts[only[0]], offset, limit)  # type: ignore[arg-type]
        return result.model_copy(update={"execution_id": run.id})
    result = execution_result(run, offset, limit)  # type: ignore[arg-type]
    return result.model_copy(update={"error": run.error_summary or result.error})


def fleet_text(report: FleetReport) -> str:
    lines = ["hosts: " + ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))]
    for host in report.hosts:
        detail = f"  {host.host:<20} {host.status:<10} {host.total_lines:>6} lines"
        if host.attached_probes is not None:
            detail += f", {host.attached_probes} probes"
        if host.error:
            detail += f"  error: {host.error}"
        lines.append(detail)
    lines += [f"  not merged: {note}" for note in report.unmerged]
    return "\n".join(lines)
