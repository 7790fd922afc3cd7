"""Every quantity as a reader sees it, in one place: ``97.3%``, ``3.2 points``, ``1.2 ms``, ``117 kB``,
``1.25 M`` params, ``3 min 12 s``, ``1 warm-up epoch``, ``2026-12-03 16:02:10 UTC``.

One kind of number, one function: the report, the terminal and the diagnosis's sentences all call
these, so a quantity printed twice reads the same both times. Each takes ``None`` or a non-finite
value and gives a dash, so a failed or diverged experiment never breaks a table. Standard library
only: the CLI imports it without pulling in the report's dependencies.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeGuard

DASH = "—"


def _present(x: float | None) -> TypeGuard[float]:
    """``x`` is a finite number (not None, NaN or infinite); narrows it to ``float``."""
    return x is not None and math.isfinite(x)


def significant(x: float, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits, never in exponent form: 1234 → '1,200'."""
    if x == 0:
        return "0"
    rounded = float(f"{x:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def percent(x: float | None, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage: 0.9734 → '97.3%'. A share short of 1 never reads '100.0%'
    (0.9996 → '99.96%'): a table that says 100% beside a sentence that says 99.9% contradicts itself."""
    if not _present(x):
        return DASH
    text = f"{x * 100:.{decimals}f}%"
    while x < 1 and text.startswith("100") and decimals < 4:
        decimals += 1
        text = f"{x * 100:.{decimals}f}%"
    while x > 0 and float(text[:-1]) == 0 and decimals < 4:  # nor a share above 0 '0.0%' (2 of 60,000)
        decimals += 1
        text = f"{x * 100:.{decimals}f}%"
    return text


def points(x: float | None) -> str:
    """A difference of two shares in percentage points: 0.031 → '3.1 points', -0.002 → '-0.2 points'."""
    return DASH if not _present(x) else f"{100 * x:.1f} points"


def loss(x: float | None) -> str:
    """A loss to three significant figures, trailing zeros kept: 0.82 → '0.820', 2.296 → '2.30'."""
    if not _present(x):
        return DASH
    if abs(x) >= 1000:
        return f"{x:.3g}"
    return f"{x:#.3g}".rstrip(".")


def ms(x: float | None) -> str:
    """Milliseconds with three significant digits (what tells a tied pair of medians apart, 0.172 and
    0.176), the same in the table, the reasons and the terminal, trailing zeros dropped: 0.0456 → '0.0456 ms',
    12.34 → '12.3 ms', 0.5 → '0.5 ms'."""
    if not _present(x):
        return DASH
    digits = significant(x, 3)
    return f"{digits.rstrip('0').rstrip('.') if '.' in digits else digits} ms"


def count(n: float | None, unit: str = "") -> str:
    """Large counts with a k/M/G suffix and three significant digits: 1_254_000 → '1.25 M'."""
    if not _present(n):
        return DASH
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{significant(n / scale, 3)} {suffix}{unit}"
    spaced_unit = f" {unit}" if unit else ""
    return f"{significant(n, 3)}{spaced_unit}" if n != int(n) else f"{int(n)}{spaced_unit}"


_SIZE_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def size(n_bytes: float | None) -> str:
    """Bytes (decimal units) with three significant digits, in the unit that puts the number between 1
    and 1,000: 493 → '493 B', 68_900 → '68.9 kB', 117_000 → '117 kB', 1_200_000 → '1.20 MB'. Never
    '0.117 MB' or '0.000493 MB'."""
    if not _present(n_bytes):
        return DASH
    rounded = float(f"{n_bytes:.3g}")  # 999_700 → 1.00e6: the unit is chosen after rounding
    for scale, unit in _SIZE_UNITS:
        if abs(rounded) >= scale:
            return f"{significant(rounded / scale, 3)} {unit}"
    return f"{int(round(rounded)):,} B"


def per_second(x: float | None) -> str:
    """A throughput: 12_345 → '12.3 k/s'."""
    return DASH if not _present(x) else count(x, "/s").replace(" /s", "/s")


def duration(seconds: float | None) -> str:
    """'0.42 s', '42 s', '3 min 12 s', '1 h 05 min'."""
    if not _present(seconds):
        return DASH
    if seconds < 10:
        return f"{significant(seconds, 2)} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3599.5:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours} h {rest:02d} min"


def moment(when: str | float | None, *, seconds: bool = True) -> str:
    """An instant as a reader scans it: an ISO 8601 string in its own zone
    ('2026-12-03T16:02:10.5+00:00' → '2026-12-03 16:02:10 UTC'), epoch seconds in UTC; ``seconds=False`` stops
    at the minute ('2026-12-03 16:02 UTC'). A dash for nothing; a string that is not ISO 8601, as given."""
    if isinstance(when, str):
        try:
            instant = datetime.fromisoformat(when)
        except ValueError:
            return when or DASH
    elif _present(when):
        instant = datetime.fromtimestamp(when, UTC)
    else:
        return DASH
    return instant.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z").strip()


def plural(n: float, word: str, many: str | None = None) -> str:
    """``n`` and the noun agreeing with it: (1, 'warm-up epoch') → '1 warm-up epoch', (2, 'class',
    'classes') → '2 classes', (1_500, 'row') → '1,500 rows'."""
    number = f"{n:,}" if float(n).is_integer() and not isinstance(n, float) else f"{n:,g}"
    return f"{number} {word if n == 1 else (many or word + 's')}"
