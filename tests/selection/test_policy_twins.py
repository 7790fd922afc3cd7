"""Two experiments that are the same model (same validation outputs, parameters and size: a declared
experiment and its tuned twin whose best trial was the declared one) tie on cost whatever their measured
latencies, and the earlier in the suite is kept: the choice does not rest on when each was timed."""

from __future__ import annotations

import numpy as np
import pytest
from selection_support import right_but

from practica.config.schema import ExperimentSpec, SelectionSpec
from practica.evaluation.intervals import Bootstrap
from practica.evaluation.metrics import score_outputs
from practica.evaluation.records import Cost, Interval, Predictions
from practica.results import Ok, Trained
from practica.selection import select
from practica.selection.records import Decision

CLASSES = ("a", "b", "c")
N = 200
Y = np.random.default_rng(3).integers(0, 3, N)


def outputs(wrong: int, offset: int = 0) -> np.ndarray:
    return right_but(Y, wrong, offset)


def result(name: str, val: np.ndarray | None, *, p50: float, params: int = 650) -> Ok:
    """``val``: the validation outputs (None: recorded without them, as an older run read back)."""
    shown = outputs(4) if val is None else val
    scored = score_outputs(shown, Y, CLASSES, "classification")
    cost = Cost(params, 4 * params, p50, 3 * p50, 1000.0,
                latency_p50_interval=Interval(low=0.98 * p50, high=1.02 * p50),
                latency_p95_interval=Interval(low=2 * p50, high=4 * p50), latency_calls=500)
    return Ok(ExperimentSpec(name=name, model={"arch": "mlp"}), Trained(None, 1.0, scored, scored, 1.0, ""), cost,
              predictions=None if val is None else Predictions(val, val))


def decide(results: list[Ok]) -> Decision:
    return select(results, SelectionSpec(), Y, bootstrap=Bootstrap(resamples=200))


def ranked(decision, name):
    return next(r for r in decision.ranking if r.experiment == name)


@pytest.mark.parametrize("tuned_p50", [0.5, 1.0, 2.0])  # the twin faster beyond noise, level, slower
def test_the_same_model_twice_keeps_the_earlier_in_the_suite_whatever_the_latencies(tuned_p50: float) -> None:
    d = decide([result("mlp", outputs(4), p50=1.0), result("mlp-tuned", outputs(4), p50=tuned_p50)])
    assert d.chosen == "mlp"
    twin = ranked(d, "mlp-tuned")
    assert twin.status == "not chosen" and twin.tie
    assert twin.reason == (f"same model as mlp (identical validation predictions, same 650 parameters and size): "
                           f"tied on cost whatever the measured latency (p50 {tuned_p50:g} vs 1 ms); the earlier "
                           "in the suite is kept")
    assert twin.difference is not None and (twin.difference.low, twin.difference.high) == (0.0, 0.0)
    assert twin.p_value == 1.0
    assert ranked(d, "mlp").reason.endswith(
        "; mlp-tuned is the same model (identical validation predictions, same 650 parameters and size): tied on "
        "cost whatever the measured latency, and the earlier in the suite is kept")
    assert "among 2 eligible experiments of 2" in d.summary


def test_two_different_models_with_those_latencies_still_go_to_the_cheaper_beyond_noise() -> None:
    # the same accuracy on other samples: two models, so the one faster beyond noise wins, as before
    d = decide([result("mlp", outputs(4), p50=1.0), result("other", outputs(4, offset=50), p50=0.5)])
    assert d.chosen == "other"
    assert "other is cheaper beyond noise" in ranked(d, "mlp").reason and not ranked(d, "mlp").tie


def test_the_same_outputs_with_other_parameters_or_none_recorded_are_not_the_same_model() -> None:
    wider = decide([result("mlp", outputs(4), p50=1.0), result("mlp-wide", outputs(4), p50=0.5, params=900)])
    assert wider.chosen == "mlp-wide"  # cheaper beyond noise; the parameters say it is another model
    unrecorded = decide([result("mlp", None, p50=1.0), result("mlp-tuned", None, p50=0.5)])
    assert unrecorded.chosen == "mlp-tuned"  # no outputs to tell: compared by latency as any two models


def test_outputs_equal_to_a_millionth_are_the_same_model_and_the_reason_says_how_equal() -> None:
    near = outputs(4) + np.float32(4e-7)
    d = decide([result("mlp", outputs(4), p50=1.0), result("mlp-tuned", near, p50=0.5)])
    assert d.chosen == "mlp"
    assert ranked(d, "mlp-tuned").reason.startswith(
        "same model as mlp (validation predictions equal to 1e-6, same 650 parameters and size)")
    apart = decide([result("mlp", outputs(4), p50=1.0), result("mlp-tuned", outputs(4) + np.float32(1e-4),
                                                                p50=0.5)])
    assert apart.chosen == "mlp-tuned"


def test_a_later_copy_of_a_model_changes_no_decision() -> None:
    # mlp is costlier than cnn beyond noise; its copy was timed faster than cnn, but it is mlp timed again
    mlp, cnn = result("mlp", outputs(4), p50=1.0), result("cnn", outputs(3, offset=60), p50=0.5, params=2_000)
    alone = decide([mlp, cnn])
    d = decide([mlp, cnn, result("mlp-tuned", outputs(4), p50=0.2)])
    assert d.chosen == alone.chosen == "cnn"
    assert {r.experiment: r.reason for r in alone.ranking} == {
        r.experiment: r.reason for r in d.ranking if r.experiment != "mlp-tuned"}
    copy = ranked(d, "mlp-tuned")
    assert copy.reason.endswith("the earlier in the suite is kept, and mlp is not chosen") and not copy.tie
