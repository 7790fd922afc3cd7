"""The selection policy: validation metric, constraints, tolerance, and a reason for everyone."""

from __future__ import annotations

import pytest

from practica.config.schema import ExperimentSpec, SelectionSpec
from practica.evaluation.records import ClassificationMetrics, Cost, SplitMetrics
from practica.results import Failed, Ok, Trained
from practica.selection import select
from practica.training.history import EpochRecord, History


def split(acc: float, loss: float = 1.0, f1: float | None = None) -> SplitMetrics:
    figures = ClassificationMetrics(accuracy=acc, macro_f1=acc if f1 is None else f1, ece=0.02, per_class=(),
                                    confusion=())
    return SplitMetrics(loss=loss, n=100, figures=figures)


def result(name, val, *, test=0.5, p95=1.0, size=1_000_000, params=1000, status="ok", stop="completed", loss=1.0,
           f1=None):
    spec = ExperimentSpec(name=name, model={"arch": "mlp"})
    if status == "failed":
        return Failed(spec, "ValueError: boom")
    history = History((EpochRecord(1, 1.0, loss, 0.1, 1.0, {"train_accuracy": 0.5, "val_accuracy": val}),),
                      stop_reason=stop, stop_detail="loss NaN in epoch 1")
    trained = Trained(history, 0.9, split(val, loss, f1), split(test), 1.0, "")
    return Ok(spec, trained, Cost(params, size, p95 / 2, p95, 1000.0))


def reasons(decision):
    return {r.experiment: r.reason for r in decision.ranking}


def test_best_validation_metric_wins_and_test_is_ignored():
    d = select([result("a", 0.80, test=0.99), result("b", 0.90, test=0.10)], SelectionSpec())
    assert d.chosen == "b"
    assert "best validation accuracy 90.0%," in reasons(d)["b"]
    assert "10.0 points below b's 90.0%" in reasons(d)["a"]
    assert "test played no part" not in d.summary and "played no part in the choice" in d.summary


def test_within_tolerance_the_cheaper_model_wins():
    d = select([result("big", 0.905, p95=9.0), result("small", 0.900, p95=1.0)], SelectionSpec(tolerance=0.01))
    assert d.chosen == "small"
    assert "within the 1.0 points tolerance" in reasons(d)["small"] and "big" in reasons(d)["small"]
    assert "small is cheaper" in reasons(d)["big"]
    by_size = select(
        [result("big", 0.905, size=10_000_000, p95=1.0), result("small", 0.900, size=1_000, p95=5.0)],
        SelectionSpec(tolerance=0.01, prefer="size"),
    )
    assert by_size.chosen == "small"


def test_outside_tolerance_the_better_model_wins_even_if_slower():
    d = select([result("big", 0.95, p95=9.0), result("small", 0.90, p95=1.0)], SelectionSpec(tolerance=0.01))
    assert d.chosen == "big"


@pytest.mark.parametrize(
    "constraint, kwargs, reason",
    [
        ({"latency_p95_ms": 5}, {"p95": 9.0}, "p95 latency 9 ms exceeds the 5 ms limit"),
        ({"size_mb": 1}, {"size": 5_000_000}, "size 5 MB exceeds the 1 MB limit"),
        ({"params": 1500}, {"params": 5000}, "5,000 parameters exceed the 1,500 limit"),
    ],
)
def test_constraints_reject_with_the_numbers(constraint, kwargs, reason):
    d = select([result("fast", 0.8), result("heavy", 0.95, **kwargs)], SelectionSpec(constraints=constraint))
    assert d.chosen == "fast"
    assert reasons(d)["heavy"] == reason


def test_failed_and_diverged_runs_are_never_chosen():
    d = select([result("broken", 0, status="failed"), result("nan", 0.99, stop="diverged"), result("ok", 0.5)],
               SelectionSpec())
    assert d.chosen == "ok"
    assert reasons(d)["broken"].startswith("failed: ValueError: boom")
    assert reasons(d)["nan"].startswith("training diverged")
    assert [r.experiment for r in d.ranking][0] == "ok"


def test_nothing_eligible_means_no_choice_and_says_why():
    d = select([result("slow", 0.9, p95=50.0)], SelectionSpec(constraints={"latency_p95_ms": 1}))
    assert d.chosen is None
    assert "No experiment satisfies the policy" in d.summary and "slow" in d.summary


def test_loss_metric_prefers_lower():
    d = select([result("a", 0.9, loss=0.5), result("b", 0.9, loss=0.3)], SelectionSpec(metric="val_loss"))
    assert d.chosen == "b" and "above b's" in reasons(d)["a"]


def test_macro_f1_metric():
    d = select([result("a", 0.9, f1=0.6), result("b", 0.85, f1=0.8)], SelectionSpec(metric="val_macro_f1"))
    assert d.chosen == "b"


def test_every_experiment_gets_a_reason():
    rs = [result("a", 0.7), result("b", 0.8), result("c", 0.9), result("d", 0, status="failed")]
    d = select(rs, SelectionSpec())
    assert {r.experiment for r in d.ranking} == {"a", "b", "c", "d"}
    assert all(r.reason for r in d.ranking)
    assert sum(r.status == "chosen" for r in d.ranking) == 1
