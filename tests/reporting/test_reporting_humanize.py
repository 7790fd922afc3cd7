"""Numbers for humans, table-driven."""

from __future__ import annotations

import math

import pytest

from practica.reporting import humanize as h


@pytest.mark.parametrize("fn, value, text", [
    (h.percent, 0.97345, "97.3%"),
    (h.percent, 1.0, "100.0%"),
    (h.percent, None, "—"),
    (h.percent, math.nan, "—"),
    (h.ms, 0.0456, "0.046 ms"),
    (h.ms, 0.42, "0.42 ms"),
    (h.ms, 9.96, "10 ms"),
    (h.ms, 12.34, "12 ms"),
    (h.ms, 1234.0, "1,200 ms"),
    (h.ms, math.inf, "—"),
    (h.count, 1_254_000, "1.25 M"),
    (h.count, 24_522, "24.5 k"),
    (h.count, 650, "650"),
    (h.count, 0, "0"),
    (h.count, 3_000_000_000, "3.00 G"),
    (h.megabytes, 5_016_000, "5.02 MB"),
    (h.megabytes, 98_088, "98 kB"),
    (h.megabytes, 2_600, "2.6 kB"),
    (h.per_second, 12_345.6, "12.3 k/s"),
    (h.per_second, 137.2, "137/s"),
    (h.duration, 0.412, "0.41 s"),
    (h.duration, 48.3, "48 s"),
    (h.duration, 312.0, "5 min 12 s"),
    (h.duration, 3 * 3600 + 5 * 60 + 7, "3 h 05 min"),
])
def test_formats(fn, value, text: str) -> None:
    assert fn(value) == text
