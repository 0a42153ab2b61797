"""The built-in policies: strict, standard (the default) and permissive."""

from __future__ import annotations

from mcptrace_core.models import Severity
from mcptrace_core.safety.models import OverheadBudget, SafetyPolicy, Thresholds

MIB = 1024 * 1024


def builtin_policies() -> list[SafetyPolicy]:
    return [
        SafetyPolicy(
            name="strict",
            description="For production hosts: medium findings need confirmation, high ones are refused, "
            "--unsafe never runs, and limits are tight.",
            confirm_at=Severity.medium,
            block_at=Severity.high,
            allow_unsafe=False,
            model_confirmation=False,
            thresholds=Thresholds(
                attach_confirm_over=20, attach_block_over=200, max_sampling_hz=199, min_event_period=100_000,
                max_duration_s=120,
            ),
            limits={"BPFTRACE_MAX_PROBES": 200, "BPFTRACE_MAX_BPF_PROGS": 200, "BPFTRACE_MAP_KEYS_MAX": 4096,
                    "BPFTRACE_STRLEN": 64, "BPFTRACE_CAT_BYTES_MAX": 4096},
            budget=OverheadBudget(max_cpu_pct=2, max_events_per_s=200_000, max_map_bytes=256 * MIB,
                                  max_output_lines_per_s=2000, max_output_bytes_per_s=256 * 1024),
        ),
        SafetyPolicy(
            name="standard",
            description="The default: high findings need the user's confirmation, critical ones are refused, "
            "--unsafe runs only after confirmation.",
            confirm_at=Severity.high,
            block_at=Severity.critical,
            allow_unsafe=True,
            model_confirmation=False,
            thresholds=Thresholds(),
            limits={"BPFTRACE_MAX_PROBES": 1000, "BPFTRACE_MAX_BPF_PROGS": 1000, "BPFTRACE_MAP_KEYS_MAX": 65_536},
            budget=OverheadBudget(max_cpu_pct=10, max_events_per_s=1_000_000, max_map_bytes=1024 * MIB,
                                  max_output_lines_per_s=20_000, max_output_bytes_per_s=4 * MIB),
        ),
        SafetyPolicy(
            name="permissive",
            description="For a developer's own test machine: only critical findings stop a program, and the "
            "assistant's confirm argument counts as confirmation.",
            confirm_at=Severity.critical,
            block_at=Severity.critical,
            allow_unsafe=True,
            model_confirmation=True,
            thresholds=Thresholds(
                attach_confirm_over=1000, attach_block_over=5000, max_sampling_hz=10_000, min_event_period=1000,
                max_duration_s=3600,
            ),
            limits={"BPFTRACE_MAX_PROBES": 5000, "BPFTRACE_MAX_BPF_PROGS": 5000, "BPFTRACE_MAP_KEYS_MAX": 262_144},
            budget=OverheadBudget(max_cpu_pct=50, max_events_per_s=10_000_000, max_map_bytes=4096 * MIB,
                                  max_output_lines_per_s=200_000, max_output_bytes_per_s=32 * MIB),
        ),
    ]
