"""The rules against noise: over many noise draws of the same curve, healthy runs are (almost)
never flagged and each problem is (almost) always found.

A few false alarms are the honest price of reading noisy curves: a healthy run still creeping up
~0.1-0.3 points an epoch is called undertrained in about 2% of draws (see UNDERTRAINED_ACC_RATE).
"""

from __future__ import annotations

from collections import Counter

import diagnosis_histories as runs
import numpy as np
import pytest

from practica.diagnosis import DiagnosisContext, diagnose

SEEDS = range(100)
MAX_MISSES = 3  # of 100 noise draws
REF = DiagnosisContext.for_classes(10, reference_accuracy=0.83, reference_name="resnet20, the suite's best")

FAMILIES = [
    (runs.healthy_cosine, "healthy"),
    (runs.healthy_constant, "healthy"),
    (runs.healthy_onecycle, "healthy"),
    (runs.healthy_early_stopped, "healthy"),
    (runs.overfit, "overfitting"),
    (runs.early_stopped_overfit, "overfitting"),
    (runs.never_learned, "underfitting"),
    (runs.underfit, "underfitting"),
    (runs.plateau, "plateau"),
    (runs.undertrained, "undertrained"),
    (runs.undertrained_onecycle, "undertrained"),
    (runs.collapse, "diverged"),
]


@pytest.mark.parametrize(("family", "verdict"), FAMILIES, ids=[f.__name__ for f, _ in FAMILIES])
def test_verdict_holds_across_noise_draws(family, verdict: str) -> None:
    verdicts = Counter(diagnose(family(seed), REF).verdict for seed in SEEDS)
    assert verdicts[verdict] >= len(SEEDS) - MAX_MISSES, verdicts


def test_pure_noise_around_a_flat_converged_curve_is_healthy() -> None:
    # Train loss still easing down 1.5% an epoch, val curves flat with noise: nothing to report.
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = 20
        t = np.arange(n)
        run = runs.history(
            0.5 * 0.985**t,
            0.85 + 0.002 * t,
            0.55 * (1 + rng.normal(0, runs.VAL_LOSS_NOISE, n)),
            0.82 + rng.normal(0, runs.VAL_ACC_NOISE, n),
            lr=runs.cosine(n),
        )
        assert diagnose(run, REF).verdict == "healthy", seed
