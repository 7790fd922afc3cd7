"""How numbers read in evidence: accuracies as percentages, gaps in points, losses to 3 figures.

Percentages and points go through ``practica.text``, the formatters the report and the terminal use,
so a number quoted in a diagnosis reads as it does in the tables beside it.
"""

from __future__ import annotations

import math

from practica import text

# What a healthy run's evidence says instead of naming the machinery ("no rule fired").
NOTHING_WRONG = "no sign of overfitting, underfitting, a stall or divergence in the curves"
NOTHING_WRONG_FIT = "no sign of overfitting or underfitting"


def pct(x: float) -> str:
    """0.8312 -> '83.1%'."""
    return text.percent(x) if math.isfinite(x) else "n/a"


def points(x: float) -> str:
    """0.031 -> '3.1 points': a difference of two accuracies."""
    return text.points(x) if math.isfinite(x) else "n/a"


def loss(x: float) -> str:
    """Three significant figures, trailing zeros kept: 0.82 -> '0.820', 2.303 -> '2.30', NaN -> 'NaN'
    (``practica.text.loss``, as the report's tables print a loss; a non-finite one is named here)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return text.loss(x)


def change(new: float, old: float) -> str:
    """Relative change, one decimal under 10%: (1.05, 0.82) -> '+28%', (0.997, 1.0) -> '-0.3%'."""
    if not (old and math.isfinite(new) and math.isfinite(old)):
        return "n/a"
    rel = 100 * (new / old - 1)
    if round(rel, 1) == 0:
        return "0.0%"
    return f"{rel:+.1f}%" if abs(rel) < 10 else f"{rel:+.0f}%"


def point_gap(x: float) -> str:
    """0.238 -> '23.8-point': a gap used as an adjective ("a 23.8-point gap")."""
    return f"{100 * x:.1f}-point"


def subject(name: str) -> str:
    """A name as the subject of "reaches": an apposition gets its closing comma
    ("resnet20, the suite's best" -> "resnet20, the suite's best,")."""
    return f"{name}," if "," in name else name


def rate(x: float) -> str:
    """A learning rate: 0.001 -> '0.001', 3e-05 -> '3e-05'."""
    return f"{x:.3g}"
