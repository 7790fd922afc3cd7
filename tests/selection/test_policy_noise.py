"""The policy compares with the noise: paired intervals on the validation samples, the median latency's
interval, and ties broken by fewer parameters, said as ties."""

from __future__ import annotations

import numpy as np
from selection_support import right_but

from practica.config.schema import ExperimentSpec, SelectionSpec
from practica.evaluation.intervals import Bootstrap
from practica.evaluation.metrics import score_outputs
from practica.evaluation.records import Cost, Interval, Predictions
from practica.results import Ok, Trained
from practica.selection import select

CLASSES = ("a", "b", "c")
N = 270
Y = np.random.default_rng(0).integers(0, 3, N)


def outputs(wrong: int, offset: int = 0) -> np.ndarray:
    return right_but(Y, wrong, offset)


def result(name: str, wrong: int, *, p50: float = 1.0, spread: float = 0.02, params: int = 1000,
           offset: int = 0) -> Ok:
    val = outputs(wrong, offset)
    scored = score_outputs(val, Y, CLASSES, "classification")
    trained = Trained(None, 1.0, scored, scored, 1.0, "")
    cost = Cost(params, 4 * params, p50, 3 * p50, 1000.0,
                latency_p50_interval=Interval(low=p50 * (1 - spread), high=p50 * (1 + spread)),
                latency_p95_interval=Interval(low=2 * p50, high=4 * p50), latency_calls=500)
    return Ok(ExperimentSpec(name=name, model={"sklearn": "logistic_regression"}), trained, cost,
              predictions=Predictions(val, val))


def decide(results, **policy):
    return select(results, SelectionSpec(**policy), Y, bootstrap=Bootstrap(resamples=1000))


def ranked(decision, name):
    return next(r for r in decision.ranking if r.experiment == name)


def test_tied_on_quality_and_latency_the_simpler_model_is_chosen_and_the_reason_says_tie():
    # 98.9% against 98.5%: one image of 270 apart; latencies 0.24 and 0.25 ms inside each other's noise
    d = decide([result("cnn", 4, p50=0.24, spread=0.05, params=23_456),
                result("cnn-small", 3, p50=0.25, spread=0.05, params=12_345)])
    assert d.chosen == "cnn-small"
    reason = ranked(d, "cnn-small").reason
    assert "ties with cnn on validation accuracy: difference +0.4 points (95% CI" in reason
    assert "McNemar p = 1" in reason
    assert "on latency (p50 0.25 vs 0.24 ms, within noise)" in reason
    assert "chosen as the simpler: 12,345 vs 23,456 parameters" in reason
    other = ranked(d, "cnn")
    assert other.status == "not chosen" and other.tie
    assert "cnn-small is the simpler" in other.reason


def test_the_same_parameters_tie_goes_to_the_better_validation_value_then_the_suite_order():
    d = decide([result("cnn", 4, p50=0.24, spread=0.05), result("cnn-augmented", 3, p50=0.25, spread=0.05)])
    assert d.chosen == "cnn-augmented"
    assert "chosen as the better on validation accuracy (98.9%) at the same 1,000 parameters" in d.summary
    # the same value on other samples: two models (the same outputs would be one model, kept once)
    same = decide([result("first", 3, p50=0.25, spread=0.05), result("second", 3, p50=0.24, spread=0.05,
                                                                     offset=10)])
    assert same.chosen == "first"
    assert "listed first in the suite" in ranked(same, "first").reason


def test_a_latency_difference_inside_the_noise_or_the_margin_is_a_tie():
    overlapping = decide([result("a", 3, p50=1.00, spread=0.08, params=50),
                          result("b", 3, p50=0.90, spread=0.08, params=40)])
    assert overlapping.chosen == "b"  # a tie on latency: the simpler wins, not the faster
    assert "simpler" in ranked(overlapping, "b").reason
    small = decide([result("fast", 3, p50=0.95, spread=0.001, params=50),
                    result("lean", 3, p50=1.00, spread=0.001, params=40)])
    assert small.chosen == "lean"  # intervals apart but 5% faster is under the 10% margin
    assert small.chosen == decide([result("fast", 3, p50=0.95, spread=0.001, params=50),
                                   result("lean", 3, p50=1.00, spread=0.001, params=40)], latency_margin=0.1).chosen
    assert decide([result("fast", 3, p50=0.95, spread=0.001, params=50),
                   result("lean", 3, p50=1.00, spread=0.001, params=40)], latency_margin=0.02).chosen == "fast"


def test_a_real_latency_difference_makes_the_cheaper_model_win():
    d = decide([result("slow", 3, p50=4.0, params=10), result("quick", 4, p50=0.5, params=90_000)])
    assert d.chosen == "quick"
    reason = ranked(d, "quick").reason
    assert "within the 0.5 points tolerance of the best (slow, 98.9%): difference −0.4 points" in reason
    assert "cheaper beyond noise than slow: p50 latency 0.5 ms (0.49–0.51) against p50 latency 4 ms" in reason
    assert "quick is cheaper beyond noise" in ranked(d, "slow").reason


def test_a_clear_best_stays_best_with_its_interval_and_the_paired_test():
    d = decide([result("good", 3, p50=5.0), result("poor", 40, p50=0.1)])
    assert d.chosen == "good"
    reason = ranked(d, "good").reason
    assert reason.startswith("best validation accuracy 98.9% (")
    assert "13.7 points ahead of poor: difference +13.7 points (95% CI" in reason and "McNemar p = " in reason
    poor = ranked(d, "poor")
    assert "beyond the 0.5 points tolerance" in poor.reason
    assert poor.interval is not None and poor.difference is not None and poor.difference.high < 0
    assert poor.p_value is not None and poor.p_value < 1e-6


def test_three_perfect_models_tie_and_the_cheapest_then_the_simplest_is_chosen():
    # penguins: three at 100% on 69 samples; the three cheap ones tie on latency too
    d = decide([result("forest", 0, p50=5.0, params=9_000), result("knn", 0, p50=0.30, params=800),
                result("tree", 0, p50=0.05, spread=0.1, params=31), result("logistic", 0, p50=0.052, spread=0.1,
                                                                            params=27)])
    assert d.chosen == "logistic"
    reason = ranked(d, "logistic").reason
    assert "ties with tree on validation accuracy: difference +0.0 points" in reason
    assert "chosen as the simpler: 27 vs 31 parameters" in reason
    assert "cheaper beyond noise than forest and knn" in reason
    assert [r.status for r in d.ranking] == ["chosen", "not chosen", "not chosen", "not chosen"]


def test_the_decision_does_not_move_with_latency_noise():
    runs = []
    rng = np.random.default_rng(1)
    for _ in range(20):  # p50s drawn ±3% around the same true values, as repeated runs measure them
        a, b = 0.24 * rng.uniform(0.97, 1.03), 0.25 * rng.uniform(0.97, 1.03)
        runs.append(decide([result("cnn", 4, p50=a, spread=0.04), result("cnn-augmented", 3, p50=b,
                                                                             spread=0.04)]).chosen)
    assert set(runs) == {"cnn-augmented"}


def test_without_labels_the_metric_compares_by_value_and_says_no_interval():
    rs = [result("a", 3, p50=1.0), result("b", 4, p50=0.5)]
    d = select(rs, SelectionSpec())
    assert d.chosen == "b"
    assert "CI" not in d.summary and ranked(d, "a").interval is None


def test_a_regression_compares_r2_with_its_paired_interval():
    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, 200)

    def reg(name, noise, p50, params):
        values = (y + rng.normal(0, noise, 200))[:, None].astype(np.float32)
        scored = score_outputs(values, y, (), "regression")
        cost = Cost(params, 4 * params, p50, 2 * p50, 1.0, Interval(low=0.98 * p50, high=1.02 * p50), None, 300)
        return Ok(ExperimentSpec(name=name, model={"sklearn": "ridge"}), Trained(None, 1.0, scored, scored, 1.0, ""),
                  cost, predictions=Predictions(values, values))

    close = [reg("fine", 0.30, 1.0, 10), reg("also-fine", 0.31, 0.2, 10), reg("rough", 1.0, 0.1, 10)]
    d = select(close, SelectionSpec(tolerance=0.03).for_task("regression"), y, bootstrap=Bootstrap())
    assert d.chosen == "also-fine"  # within 0.03 R² of the best, and 5× faster
    rough = next(r for r in d.ranking if r.experiment == "rough")
    assert "beyond the 0.030 tolerance" in rough.reason
    assert rough.p_value is None and rough.difference is not None and rough.difference.high < 0


def test_records_from_before_the_intervals_still_read():
    from pydantic import TypeAdapter

    from practica.selection.records import Decision

    old = {"chosen": "a", "metric": "val_accuracy", "summary": "a goes", "ranking": [
        {"experiment": "a", "value": 0.9, "status": "chosen", "reason": "best"},
        {"experiment": "b", "value": 0.8, "status": "rejected", "reason": "below"}]}
    decision = TypeAdapter(Decision).validate_python(old)
    assert decision.ranking[1].interval is None and not decision.ranking[1].tie
    cost = TypeAdapter(Cost).validate_python({"params": 1, "size_bytes": 4, "latency_p50_ms": 0.2,
                                              "latency_p95_ms": 0.5, "throughput": 10.0})
    assert cost.latency_p50_interval is None and cost.latency_calls is None


def test_a_p95_over_the_limit_within_its_noise_passes_and_one_clearly_over_is_rejected():
    near = result("near", 3, p50=5.0)  # p95 15 ms, interval 10–20 ms
    over = result("over", 3, p50=8.0)  # p95 24 ms, interval 16–32 ms
    clear = result("clear", 3, p50=12.0)  # p95 36 ms, interval 24–48 ms
    d = decide([near, over, clear], constraints={"latency_p95_ms": 20})
    assert ranked(d, "over").status == "not chosen"  # 24 ms measured, but its interval reaches 16 ms
    assert ranked(d, "clear").reason == "p95 latency 36 ms (95% CI 24–48) exceeds the 20 ms limit"


def test_equal_best_values_are_said_as_a_tie_for_the_best():
    # perfect, so the same outputs: the parameters tell the models apart
    d = decide([result("forest", 0, p50=5.0, params=9_000), result("logistic", 0, p50=0.27, params=27),
                result("dense", 0, p50=0.067, params=650), result("tree", 1, p50=0.15)])
    assert d.chosen == "dense"
    reason = ranked(d, "dense").reason
    assert reason.startswith("ties for the best validation accuracy 100.0% (98.6–100.0) with forest and logistic, "
                             "1 other within the tolerance; cheaper beyond noise than")
