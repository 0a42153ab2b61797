"""How a run's cost and the limit it crossed are shown: the shapes results, the history and the CLI share.

The measuring is a plugin's (mcptrace_overhead); the core only fixes the vocabulary, so results read
the same whichever plugin measured, and a run read back from the history shows its final figures.
"""

from __future__ import annotations

from pydantic import Field

from mcptrace_core.models import Model


class RunOverhead(Model):
    """What a run costs the host: measured while it runs (live), final once it ended."""

    events: int | None = Field(description="Runs of the run's BPF programs (kernel run_cnt); null without BPF stats.")
    events_per_s: float | None = Field(
        description="Events per second: over the last window while running, over the whole run once it ended."
    )
    bpf_time_ns: int | None = Field(description="Time spent in the run's BPF programs (kernel run_time_ns).")
    bpf_cpu_pct: float | None = Field(description="BPF time as a share of the whole machine's CPU (all cores), %.")
    user_cpu_s: float = Field(description="CPU seconds of the tracing process itself (user + system).")
    user_cpu_pct: float = Field(description="The tracing process's CPU as a share of the whole machine's, %.")
    cpu_pct: float | None = Field(
        description="bpf_cpu_pct + user_cpu_pct: the share the budget (max_overhead_pct) is judged on; "
        "over the last window while running, over the whole run once it ended."
    )
    rss_bytes: int = Field(description="Resident memory of the tracing process (its peak once the run ended).")
    map_bytes: int = Field(description="Locked kernel memory of the run's BPF maps (memlock).")
    programs: int = Field(description="BPF programs the run holds.")
    maps: int = Field(description="BPF maps the run holds.")
    lost_events: int = Field(description="Events the kernel dropped because the reader fell behind.")
    measured_s: float = Field(description="Seconds between the first and the last measurement.")
    samples: int = Field(description="Measurements taken.")
    final: bool = Field(description="True once the run ended: these are its final figures.")
    probes: list[str] = Field(
        default_factory=list,
        description="The probe specs the events came from (canonical, BEGIN/END left out): what calibrated "
        "estimates of later programs are matched by.",
    )
    bpf_stats: str = Field(
        description="How BPF run time was counted: 'bpf_enable_stats' (kernel stats for this server's "
        "lifetime), 'sysctl' (kernel.bpf_stats_enabled, restored after), or why it was not counted."
    )

    def line(self) -> str:
        """The figures in one line, for text results and `mcptrace run`."""
        parts = []
        if self.events is not None:
            parts.append(f"{self.events} events ({self.events_per_s or 0:.0f}/s)")
        if self.bpf_time_ns is not None:
            parts.append(f"BPF {self.bpf_time_ns / 1e6:.1f} ms ({self.bpf_cpu_pct or 0:.2f}% CPU)")
        else:
            parts.append(f"BPF time not measured ({self.bpf_stats})")
        parts.append(f"process {self.user_cpu_s:.2f} s CPU ({self.user_cpu_pct:.2f}%), {self.rss_bytes // 1024} KiB RSS")
        parts.append(f"maps {self.map_bytes // 1024} KiB")
        if self.lost_events:
            parts.append(f"{self.lost_events} lost events")
        return "overhead: " + ", ".join(parts)


class LimitCrossed(Model):
    """The runtime limit a run was stopped for."""

    figure: str = Field(description="cpu_pct, events_per_s, map_bytes, output_lines_per_s or output_bytes_per_s.")
    value: float = Field(description="What was measured.")
    limit: float = Field(description="The limit it crossed.")
    source: str = Field(description="Where the limit came from: the policy, or max_overhead_pct.")
