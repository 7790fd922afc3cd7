"""The policy choosing among a Pareto front that a multi-objective study added to the run as experiments
("<name>-pareto-<trial>"): the most accurate within the tolerance, then the cheaper; the constraints first."""

from __future__ import annotations

import pytest

from practica.config.schema import ExperimentSpec, SelectionSpec
from practica.evaluation.records import ClassificationMetrics, Cost, SplitMetrics
from practica.results import Ok, Trained
from practica.selection import select
from practica.training.history import EpochRecord, History

# (trial, validation accuracy, median latency ms): each point more accurate and slower than the one before.
FRONT = ((3, 0.912, 0.08), (7, 0.951, 0.15), (12, 0.968, 0.31), (5, 0.974, 0.62), (9, 0.977, 1.3), (2, 0.981, 2.9))


def scored(name: str, accuracy: float, p50: float, params: int = 10_000) -> Ok:
    figures = ClassificationMetrics(accuracy=accuracy, macro_f1=accuracy, ece=0.02, per_class=(), confusion=())
    split = SplitMetrics(loss=1 - accuracy, n=1000, figures=figures)
    history = History((EpochRecord(1, 0.5, 0.5, 0.1, 1.0, {"train_accuracy": accuracy, "val_accuracy": accuracy}),))
    trained = Trained(history, accuracy, split, split, 1.0, "")
    return Ok(ExperimentSpec(name=name, model={"arch": "mlp"}), trained, Cost(params, 40_000, p50, 1.5 * p50, 1e3))


def front(*, untuned: tuple[float, float] | None = (0.962, 0.4)) -> list[Ok]:
    results = [scored(f"cnn-pareto-{n}", acc, p50) for n, acc, p50 in FRONT]
    return results + ([scored("cnn", *untuned)] if untuned else [])


def reasons(decision) -> dict[str, str]:
    return {r.experiment: r.reason for r in decision.ranking}


def test_within_the_tolerance_the_cheaper_front_point_wins() -> None:
    d = select(front(), SelectionSpec(tolerance=0.005))
    # 98.1% is the best; 97.7% is within half a point of it and over twice as fast; 97.4% is 0.7 points off.
    assert d.chosen == "cnn-pareto-9"
    assert "within the 0.5 points tolerance of the best (cnn-pareto-2, 98.1%)" in reasons(d)["cnn-pareto-9"]
    assert "cnn-pareto-9 is cheaper beyond noise" in reasons(d)["cnn-pareto-2"]
    assert "beyond the 0.5 points tolerance" in reasons(d)["cnn-pareto-5"]
    assert "beyond the 0.5 points tolerance" in reasons(d)["cnn"]  # the untuned recipe, dominated


def test_a_latency_limit_rejects_the_slow_end_of_the_front_first() -> None:
    d = select(front(), SelectionSpec(tolerance=0.005, constraints={"latency_p95_ms": 1.5}))
    # p95 is 1.5× the median: 9 (1.95 ms) and 2 (4.35 ms) are out; 5 is then the best, and 12 is 0.6 points off.
    assert d.chosen == "cnn-pareto-5"
    assert reasons(d)["cnn-pareto-2"] == "p95 latency 4.35 ms exceeds the 1.5 ms limit"
    assert reasons(d)["cnn-pareto-9"] == "p95 latency 1.95 ms exceeds the 1.5 ms limit"
    assert reasons(d)["cnn-pareto-5"].startswith("best validation accuracy 97.4%")


@pytest.mark.parametrize("tolerance, chosen", [(0.0, "cnn-pareto-2"), (0.01, "cnn-pareto-5"),
                                               (0.015, "cnn-pareto-12"), (0.1, "cnn-pareto-3")])
def test_the_tolerance_walks_the_pick_down_the_front(tolerance: float, chosen: str) -> None:
    assert select(front(untuned=None), SelectionSpec(tolerance=tolerance)).chosen == chosen


def test_front_points_tied_on_latency_go_to_the_simpler_model() -> None:
    tied = [scored("cnn-pareto-4", 0.975, 0.50, params=90_000), scored("cnn-pareto-8", 0.973, 0.51, params=30_000)]
    d = select(tied, SelectionSpec(tolerance=0.005))
    assert d.chosen == "cnn-pareto-8"
    assert "chosen as the simpler: 30,000 vs 90,000 parameters" in reasons(d)["cnn-pareto-8"]
