"""Every model on every slice, the gaps weighted by share, and the floors, on digits with outputs made to
miss one class."""

from __future__ import annotations

import math

import numpy as np
import pytest

from practica.config.schema import DatasetSpec, EvaluationSpec
from practica.data import prepare_data
from practica.evaluation.records import Predictions
from practica.evaluation.slice_scores import below_floor, gaps, score_slices, slice_metric
from practica.evaluation.slices import find_slices


@pytest.fixture(scope="module")
def digits():
    splits = prepare_data(DatasetSpec(source="digits", max_samples=400, split={"val": 0.25, "test": 0.25, "seed": 0}))
    return splits, find_slices(splits, EvaluationSpec())


def outputs(y: np.ndarray, miss: int | None) -> np.ndarray:
    """Probabilities that are right, 90% sure, except on class ``miss``: there they say the next class."""
    pred = np.where(y == miss, (y + 1) % 10, y) if miss is not None else y
    proba = np.full((len(y), 10), 0.1 / 9, dtype=np.float32)
    proba[np.arange(len(y)), pred] = 0.9
    return proba


def scored(splits, slices, miss):
    metric = slice_metric("classification", "val_accuracy")
    predictions = Predictions(outputs(splits.val.y, miss), outputs(splits.test.y, miss))
    return score_slices(slices, predictions, splits, metric, min_samples=5)


def test_each_slice_gets_its_accuracy_count_and_share(digits):
    splits, slices = digits
    scores = scored(splits, slices, miss=3)
    three = scores.get("class: 3")
    assert three is not None and three.value == 0.0 and three.test_value == 0.0
    assert three.n == int((splits.val.y == 3).sum()) and math.isclose(three.share, three.n / len(splits.val))
    assert scores.get("class: 4").value == 1.0
    bright = [s for s in scores.slices if s.group == "brightness"]
    assert math.isclose(sum(s.share for s in bright), 1.0)
    # the split's accuracy is the share-weighted mean of a family's slices: the reason gaps are weighted by share
    overall = (splits.val.y != 3).mean()
    assert math.isclose(sum(s.share * s.value for s in bright), overall)


@pytest.mark.parametrize("selection, used", [("val_accuracy", "val_accuracy"), ("val_macro_f1", "val_accuracy"),
                                             ("val_loss", "val_loss")])
def test_a_metric_that_is_not_a_mean_over_samples_is_replaced_by_one(selection, used):
    assert slice_metric("classification", selection).name == used


def test_regression_slices_use_mae_in_place_of_r2():
    assert slice_metric("regression", None).name == "val_mae"
    assert slice_metric("regression", "val_loss").name == "val_loss"


def test_gaps_to_the_best_model_are_weighted_by_share_and_sorted(digits):
    splits, slices = digits
    chosen, perfect = scored(splits, slices, miss=3), scored(splits, slices, miss=None)
    found = gaps(chosen, {"chosen": chosen, "perfect": perfect}, None)
    top = found[0]
    assert top.name == "class: 3" and top.reference_name == "perfect" and top.gap == 1.0
    assert math.isclose(top.weighted, top.share)
    assert [g.weighted for g in found] == sorted((g.weighted for g in found), reverse=True)
    assert all(g.gap == 0.0 for g in found if g.name.startswith("class: ") and g.name != "class: 3")


def test_a_declared_human_level_is_the_reference_one_number_or_per_slice(digits):
    splits, slices = digits
    chosen = scored(splits, slices, miss=None)
    flat = gaps(chosen, {"chosen": chosen}, 0.5)
    assert all(g.gap == 0.0 and g.reference_name == "human level" for g in flat)  # already above it
    missing_three = scored(splits, slices, miss=3)
    per_slice = gaps(missing_three, {"chosen": missing_three}, {"class: 3": 1.0, "*": 0.0})
    assert per_slice[0].name == "class: 3" and per_slice[0].gap == 1.0 and per_slice[0].reference_name == "human level"
    assert {g.name: g.reference for g in per_slice}["class: 4"] == 0.0


def test_below_floor_names_the_worst_slice_and_skips_small_ones(digits):
    splits, slices = digits
    scores = scored(splits, slices, miss=3)
    found = below_floor(scores, {"*": 0.5})
    assert found is not None and found[0].name == "class: 3" and found[1] == 0.5
    assert below_floor(scores, {"class: 4": 0.99}) is None
    strict = scores.__class__(scores.metric, scores.higher_is_better, 10_000, scores.slices)
    assert below_floor(strict, {"*": 0.5}) is None  # no slice has enough samples to be audited
