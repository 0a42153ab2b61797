"""How big a run's maps are: the policy's limits are ceilings, not the size every run pays for.

bpftrace creates each keyed map with room for BPFTRACE_MAP_KEYS_MAX keys, and the kernel preallocates
hash maps: a per-CPU one (count(), sum(), hist() ... by key) of 65,536 keys took 70-200 ms to create
here, 16,384 keys 6-26 ms, 4,096 keys (bpftrace's own default) 2-4 ms, the same as a bare bpftrace run.
So a run gets ``bpftrace.map_keys`` keys per map (4,096 unless configured), never more than the policy
allows: the policy still bounds what an operator may configure, and a run costs what bare bpftrace costs.

Only values are chosen here; which variable name a bpftrace version reads is ``limits.limits_env``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping

MAP_KEYS_LIMIT = "BPFTRACE_MAP_KEYS_MAX"
"""The policy's name for the keys-per-map ceiling."""


def run_limits(policy_limits: Mapping[str, int], map_keys: int) -> dict[str, int]:
    """The limits a run gets: the policy's, with keys per map lowered to ``map_keys`` when that is less.

    A policy without a keys ceiling gets ``map_keys`` too: an unset variable means bpftrace's default,
    and the setting is what the operator chose.
    """
    limits = dict(policy_limits)
    limits[MAP_KEYS_LIMIT] = min(map_keys, limits.get(MAP_KEYS_LIMIT, map_keys))
    return limits
