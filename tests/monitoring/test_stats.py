"""The drift statistics' tail probabilities (numpy and math, for the torch- and SciPy-free serving install)
agree with SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from practica.monitoring.stats import binomial_greater, chi2_sf, chi2_two_sample, kolmogorov_sf


@pytest.mark.parametrize("dof", [1, 2, 5, 9, 30])
@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 8.0, 20.0, 60.0, 200.0])
def test_chi2_sf(x, dof):
    assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-7, abs=1e-12)


def test_chi2_two_sample():
    rng = np.random.default_rng(0)
    for _ in range(20):
        table = rng.integers(0, 80, size=(2, rng.integers(2, 11))) + 1
        expected = stats.chi2_contingency(table, correction=False).pvalue
        assert chi2_two_sample(table) == pytest.approx(expected, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.1), (3, 100, 0.01), (10, 100, 0.01), (50, 1000, 0.01),
                                           (400, 1000, 0.3), (1000, 1000, 0.5)])
def test_binomial_greater(k, n, p):
    expected = stats.binomtest(k, n, p, alternative="greater").pvalue
    assert binomial_greater(k, n, p) == pytest.approx(expected, rel=1e-7, abs=1e-14)


@pytest.mark.parametrize("x", [0.05, 0.3, 0.6, 0.9, 1.0, 1.2, 1.36, 2.0, 3.0])
def test_kolmogorov_sf(x):
    assert kolmogorov_sf(x) == pytest.approx(stats.kstwobign.sf(x), rel=1e-7, abs=1e-12)
