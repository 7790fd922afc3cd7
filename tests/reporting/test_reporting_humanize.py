"""Numbers for humans, table-driven: every kind of quantity has one formatter (``practica.text``)."""

from __future__ import annotations

import math

import pytest

from practica.reporting import humanize as h


@pytest.mark.parametrize("fn, value, text", [
    (h.percent, 0.97345, "97.3%"),
    (h.percent, 1.0, "100.0%"),
    (h.percent, None, "—"),
    (h.percent, math.nan, "—"),
    (h.ms, 0.0456, "0.0456 ms"),
    (h.ms, 0.42, "0.42 ms"),
    (h.ms, 9.96, "9.96 ms"),
    (h.ms, 12.34, "12.3 ms"),
    (h.ms, 1234.0, "1,230 ms"), (h.ms, 0.5, "0.5 ms"),
    (h.ms, math.inf, "—"),
    (h.count, 1_254_000, "1.25 M"),
    (h.count, 24_522, "24.5 k"),
    (h.count, 650, "650"),
    (h.count, 0, "0"),
    (h.count, 3_000_000_000, "3.00 G"),
    (h.percent, 0.99957, "99.96%"),  # short of 1 never reads 100.0%
    (h.percent, 2 / 60_000, "0.003%"),  # above 0 never reads 0.0%
    (h.percent, 0.0, "0.0%"),
    (h.percent, 0.999999, "99.9999%"),
    (h.points, 0.0325, "3.2 points"),
    (h.points, -0.002, "-0.2 points"),
    (h.points, math.nan, "—"),
    (h.size, 5_016_000, "5.02 MB"),
    (h.size, 98_088, "98.1 kB"),
    (h.size, 117_000, "117 kB"),  # never 0.117 MB
    (h.size, 68_900, "68.9 kB"),
    (h.size, 2_600, "2.60 kB"),
    (h.size, 493, "493 B"),  # never 0.000493 MB or 0.493 kB
    (h.size, 999_700, "1.00 MB"),  # the unit is chosen after rounding: not '1,000 kB'
    (h.size, 3_200_000_000, "3.20 GB"),
    (h.size, None, "—"),
    (h.per_second, 12_345.6, "12.3 k/s"),
    (h.per_second, 137.2, "137/s"),
    (h.duration, 0.412, "0.41 s"),
    (h.duration, 48.3, "48 s"),
    (h.duration, 59.7, "1 min 00 s"),  # not '60 s'
    (h.duration, 69.0, "1 min 09 s"),
    (h.duration, 312.0, "5 min 12 s"),
    (h.duration, 3 * 3600 + 5 * 60 + 7, "3 h 05 min"),
])
def test_formats(fn, value, text: str) -> None:
    assert fn(value) == text


@pytest.mark.parametrize("n, word, many, text", [
    (1, "warm-up epoch", None, "1 warm-up epoch"),
    (1.0, "warm-up epoch", None, "1 warm-up epoch"),
    (2, "warm-up epoch", None, "2 warm-up epochs"),
    (0.5, "warm-up epoch", None, "0.5 warm-up epochs"),
    (0, "row", None, "0 rows"),
    (1_461, "row", None, "1,461 rows"),
    (3, "class", "classes", "3 classes"),
])
def test_plural(n, word: str, many: str | None, text: str) -> None:
    assert h.plural(n, word, many) == text


@pytest.mark.parametrize("when, seconds, text", [
    ("2026-12-03T16:02:10.123+00:00", True, "2026-12-03 16:02:10 UTC"),  # a record's ISO stamp, in its own zone
    ("2026-12-03T16:02:10+00:00", False, "2026-12-03 16:02 UTC"),
    ("2026-12-03T16:02:10", True, "2026-12-03 16:02:10"),  # no zone recorded: none shown
    (1_796_313_730.5, True, "2026-12-03 16:02:10 UTC"),  # epoch seconds, in UTC
    ("yesterday", True, "yesterday"),  # not ISO 8601: as given
    ("", True, "—"),
    (None, True, "—"),
    (math.nan, True, "—"),
])
def test_an_instant_reads_the_same_everywhere(when, seconds, text):
    assert h.moment(when, seconds=seconds) == text
