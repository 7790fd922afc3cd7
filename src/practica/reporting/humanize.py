"""Numbers as a reader wants them: ``97.3%``, ``1.2 ms``, ``1.25 M`` params, ``3 min 12 s``.

Every function takes ``None`` or a non-finite value and gives a dash, so a failed or
diverged experiment never breaks a table.
"""

from __future__ import annotations

import math
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
    """A share in [0, 1] as a percentage: 0.9734 → '97.3%'."""
    return DASH if not _present(x) else f"{x * 100:.{decimals}f}%"


def ms(x: float | None) -> str:
    """Milliseconds with two significant digits: 0.0456 → '0.046 ms', 12.34 → '12 ms'."""
    return DASH if not _present(x) else f"{significant(x, 2)} ms"


def count(n: float | None, unit: str = "") -> str:
    """Large counts with a k/M/G suffix and three significant digits: 1_254_000 → '1.25 M'."""
    if not _present(n):
        return DASH
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{significant(n / scale, 3)} {suffix}{unit}"
    spaced_unit = f" {unit}" if unit else ""
    return f"{significant(n, 3)}{spaced_unit}" if n != int(n) else f"{int(n)}{spaced_unit}"


def megabytes(n_bytes: float | None) -> str:
    """Bytes as MB (decimal), kB below 0.1 MB: 4_912_000 → '4.91 MB'."""
    if not _present(n_bytes):
        return DASH
    if n_bytes < 1e5:
        return f"{significant(n_bytes / 1e3, 2)} kB"
    return f"{significant(n_bytes / 1e6, 3)} MB"


def per_second(x: float | None) -> str:
    """A throughput: 12_345 → '12.3 k/s'."""
    return DASH if not _present(x) else count(x, "/s").replace(" /s", "/s")


def duration(seconds: float | None) -> str:
    """'0.42 s', '42 s', '3 min 12 s', '1 h 05 min'."""
    if not _present(seconds):
        return DASH
    if seconds < 10:
        return f"{significant(seconds, 2)} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours} h {rest:02d} min"
