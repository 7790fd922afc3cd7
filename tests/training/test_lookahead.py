"""train.lookahead: the weights pulled toward their running average, ending on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from practica.config.schema import LookaheadSpec, TrainSpec
from practica.training.lookahead import Lookahead


def set_weight(model: nn.Linear, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)


def test_pulls_every_few_steps_harder_as_training_ends_and_ends_on_the_average():
    model = nn.Linear(1, 1, bias=False)
    set_weight(model, 0.0)
    la = Lookahead(LookaheadSpec(every=2, decay=0.5), model, total_steps=4)
    set_weight(model, 1.0)
    la.after_step(model, 1)  # not a multiple of every: untouched
    assert model.weight.item() == 1.0
    la.after_step(model, 2)  # past weight 0.5² × (2/4)³ = 1/32: the average moves almost all the way
    assert model.weight.item() == pytest.approx(31 / 32)
    set_weight(model, 3.0)
    la.after_step(model, 4)  # the last step: set to the average, which it does not move
    assert model.weight.item() == pytest.approx(31 / 32)


def test_batchnorm_statistics_are_averaged_too_but_not_integer_counters():
    model = nn.BatchNorm1d(2)
    la = Lookahead(LookaheadSpec(), model, total_steps=10)
    assert {"running_mean", "running_var", "weight", "bias"} <= set(la.state())
    assert "num_batches_tracked" not in la.state()


@pytest.mark.parametrize(
    ("value", "expected"), [(True, LookaheadSpec()), (False, None), ({"every": 3}, LookaheadSpec(every=3))],
)
def test_lookahead_config_forms(value, expected):
    assert TrainSpec(lookahead=value).lookahead == expected


@pytest.mark.parametrize(("value", "message"), [({"decay": 1.0}, "less than 1"), ({"every": 0}, "greater than 0"),
                                                ({"evry": 5}, "evry")])
def test_bad_lookahead_settings_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        TrainSpec(lookahead=value)
