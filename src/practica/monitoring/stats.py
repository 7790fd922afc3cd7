"""The four tail probabilities drift needs, in numpy and math: the serving install has no SciPy (it would
add ~110 MB to the image for four functions). Each is checked against SciPy in the tests."""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-15
_ITERATIONS = 500


def chi2_sf(x: float, dof: float) -> float:
    """P(χ²(dof) > x): the regularised upper incomplete gamma function Q(dof/2, x/2)."""
    if x <= 0:
        return 1.0
    a, z = dof / 2.0, x / 2.0
    log_front = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # the series for P converges fast here
        term = total = 1.0 / a
        for n in range(1, _ITERATIONS):
            term *= z / (a + n)
            total += term
            if term < total * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Lentz's continued fraction for Q
    b = z + 1.0 - a
    c, d = 1.0 / 1e-300, 1.0 / b
    h = d
    for i in range(1, _ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return min(1.0, math.exp(log_front) * h)


def chi2_two_sample(table: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of independence on a 2×K table of counts (no continuity correction)."""
    table = np.asarray(table, dtype=float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = float(np.nansum(np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)))
    return chi2_sf(statistic, (table.shape[0] - 1) * (table.shape[1] - 1))


def binomial_greater(successes: int, trials: int, p: float) -> float:
    """P(X ≥ successes) for X ~ Binomial(trials, p): the one-sided exact binomial test."""
    if successes <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    k = np.arange(successes, trials + 1)
    log_terms = (math.lgamma(trials + 1) - np.array([math.lgamma(i + 1) + math.lgamma(trials - i + 1) for i in k])
                 + k * math.log(p) + (trials - k) * math.log1p(-p))
    top = log_terms.max()
    return float(min(1.0, math.exp(top) * np.exp(log_terms - top).sum()))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for Kolmogorov's limiting distribution (scaled two-sample KS distance)."""
    if x <= 0:
        return 1.0
    if x < 1.0:  # the theta-function form converges fast for small x
        t = math.pi ** 2 / (8 * x * x)
        cdf = math.sqrt(2 * math.pi) / x * sum(math.exp(-(2 * k - 1) ** 2 * t) for k in range(1, 8))
        return min(1.0, max(0.0, 1.0 - cdf))
    return max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101)))
