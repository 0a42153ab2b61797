"""The statistics and naming rules on small hand-checked inputs."""

from __future__ import annotations

import pytest
from mcptrace_analyzers import stats
from mcptrace_analyzers.maps import display_key, make_series, series_anomalies
from mcptrace_analyzers.units import format_quantity, role_of, unit_of

from mcptrace_core.analysis import Bucket


def test_percentile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    buckets = [Bucket(0, 10, 10), Bucket(10, 20, 30), Bucket(20, 40, 60)]
    assert stats.percentile(buckets, 0.5) == pytest.approx(20 + 20 * (50 - 40) / 60)
    assert stats.percentile(buckets, 0.1) == pytest.approx(10)
    assert stats.percentile([Bucket(1, 2, 5), Bucket(2, 4, 5)], 0.3) == 1  # '[1]' holds the value 1 only
    assert stats.percentile([Bucket(None, 0, 9), Bucket(0, 1, 1)], 0.5) == 0  # underflow: its bound
    assert stats.percentile([Bucket(0, 10, 1), Bucket(100, None, 9)], 0.99) == 100  # overflow: its bound
    assert stats.percentile([Bucket(0, 1, 0)], 0.5) is None


def test_mean_uses_midpoints() -> None:
    assert stats.mean([Bucket(0, 10, 1), Bucket(10, 30, 1)]) == pytest.approx(12.5)


def test_bimodal_needs_two_separated_substantial_peaks() -> None:
    modes = stats.bimodal([5, 400, 100, 9, 120, 60, 0, 10])
    assert modes == stats.Modes(first=1, second=4, valley=3)
    assert stats.bimodal([1, 10, 100, 60, 30, 10, 2]) is None  # one peak
    assert stats.bimodal([100, 0, 0, 2]) is None  # the second peak is too small to be a mode


def test_robust_z_flags_the_outlier_not_its_neighbours() -> None:
    values = [100, 104, 98, 101, 99, 102, 900]
    z = stats.robust_z(values)
    assert z[-1] > stats.SPIKE_Z and all(abs(value) < 2 for value in z[:-1])
    assert stats.robust_z([5, 5, 5]) == [0.0, 0.0, 0.0]


def test_series_anomalies_need_a_real_change() -> None:
    labels = [f"10:00:0{i}" for i in range(7)]
    steady = make_series("@x", None, labels, [1000, 1010, 990, 1005, 995, 1001, 1060])  # +6%: noise
    assert series_anomalies(steady) == []
    spiky = make_series("@x", None, labels, [1000, 1010, 990, 1005, 995, 1001, 5000])
    (spike,) = [a for a in series_anomalies(spiky) if a.kind == "spike"]
    assert spike.evidence["intervals"] == ["10:00:06"] and "10:00:06" in spike.message
    rising = make_series("@x", None, labels, [100, 200, 300, 400, 500, 600, 700])
    assert rising.trend == "rising" and any(a.kind == "trend" for a in series_anomalies(rising))


def test_largest_and_describe_agree_between_python_and_numpy() -> None:
    small = [3, None, 9, 1, 7]
    assert stats.largest(small, 2) == [2, 4]
    large = list(range(60_000)) + [None]
    assert stats.largest(large, 3) == [59_999, 59_998, 59_997]
    assert stats.describe(list(range(101))) == (101, 0, 50, 90, 99, 100, 50)
    assert stats.describe(list(range(100_001)))[2:5] == pytest.approx((50_000, 90_000, 99_000))


@pytest.mark.parametrize(
    ("name", "unit", "role"),
    [
        ("@usecs", "us", "duration"),
        ("@lat_ns[read]", "ns", "duration"),
        ("TIME (us)", "us", "duration"),
        ("TOTAL_usecs", "us", "duration"),
        ("LAT(ms)", "ms", "duration"),
        ("MS", "ms", "duration"),
        ("SECONDS", "s", "duration"),
        ("@bytes", "bytes", "size"),
        ("TX_KB", "KB", "size"),
        ("PID", None, "id"),
        ("TIME(s)", "s", "timestamp"),
        ("TIME", None, "timestamp"),
        ("ERR", None, "error"),
        ("EXIT_CODE", None, "error"),
        ("COUNT", None, "count"),
        ("COMM", None, "value"),
        ("@b", None, "value"),
    ],
)
def test_units_and_roles_come_from_names(name: str, unit: str | None, role: str) -> None:
    assert unit_of(name) == unit
    assert role_of(name, numeric=name != "TIME(s)") == role


def test_quantities_are_shown_in_a_readable_unit() -> None:
    assert format_quantity(2100, "us") == "2.1 ms"
    assert format_quantity(4096, "bytes") == "4 KB"
    assert format_quantity(0, "s") == "0 s"
    assert format_quantity(12.5, None) == "12.5"


def test_stack_keys_read_innermost_first() -> None:
    key = "\n    a+1\n    b+2\n    c+3\n    d+4\n    e+5\n"
    assert display_key(key) == "a+1 <- b+2 <- c+3 <- d+4 <- ..."
    assert display_key("") == "(empty)" and display_key("bash") == "bash"
