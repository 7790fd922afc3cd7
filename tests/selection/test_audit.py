"""The performance audit: a model below a slice floor is rejected, the slice, its value and the floor named."""

from __future__ import annotations

from dataclasses import replace

from test_policy import reasons, result

from practica.config.schema import SelectionSpec
from practica.evaluation.slice_scores import SliceScore, SliceScores
from practica.selection import select


def with_slices(r, **values: float):
    scores = tuple(SliceScore(name.replace("_", " ").replace("class ", "class: "), "class", n, 0.1, v, n, v)
                   for name, (n, v) in ((k, (50, v)) for k, v in values.items()))
    return replace(r, slices=SliceScores("val_accuracy", True, 20, scores))


def test_a_model_below_a_slice_floor_is_rejected_with_the_slice_named():
    better = with_slices(result("best", 0.95), class_cat=0.55, class_dog=0.99)
    steady = with_slices(result("steady", 0.90), class_cat=0.80, class_dog=0.95)
    d = select([better, steady], SelectionSpec(slice_floors={"class: cat": 0.7}))
    assert d.chosen == "steady"
    why = reasons(d)["best"]
    assert "'class: cat'" in why and "55.0%" in why and "70.0%" in why and "selection.slice_floors" in why


def test_a_star_floor_applies_to_every_slice_and_no_floors_change_nothing():
    a = with_slices(result("a", 0.95), class_cat=0.9, class_dog=0.4)
    b = with_slices(result("b", 0.90), class_cat=0.9, class_dog=0.9)
    assert select([a, b], SelectionSpec(slice_floors={"*": 0.5})).chosen == "b"
    assert select([a, b], SelectionSpec()).chosen == "a"


def test_a_slice_with_too_few_samples_is_not_audited():
    small = result("small", 0.95)
    scores = SliceScores("val_accuracy", True, 20, (SliceScore("class: cat", "class", 5, 0.01, 0.0, 5, 0.0),))
    d = select([replace(small, slices=scores)], SelectionSpec(slice_floors={"*": 0.5}))
    assert d.chosen == "small"
