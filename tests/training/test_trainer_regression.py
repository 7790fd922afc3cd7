"""Training a network on a numeric target: MSE on the standardised target, values out in its units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from practica.config.schema import TrainSpec
from practica.data.records import Dataset
from practica.models.classifier import Regressor
from practica.training.checkpoint import load_tensors, save_tensors
from practica.training.history import HISTORY
from practica.training.trainer import fit


def linear_data(n: int, seed: int, noise: float = 0.1) -> Dataset:
    """y = X·w + 300 + small noise, in large units (the standardisation must handle them)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    w = np.array([40.0, -25.0, 10.0, 0.0, 5.0])
    y = (x @ w + 300.0 + noise * rng.normal(size=n)).astype(np.float32)
    return Dataset("linear", x, y, (), task="regression")


def linear_body() -> nn.Module:
    return nn.Linear(5, 1)


def test_a_linear_network_learns_a_linear_target_in_its_units():
    train, val = linear_data(512, 0), linear_data(128, 1)
    result = fit(linear_body, train, val, TrainSpec(epochs=40, batch_size=64, optimizer={"lr": 0.05}))
    assert isinstance(result.model, Regressor)
    last = result.history.epochs[-1]
    assert last.metrics["val_r2"] > 0.99 and last.metrics["train_r2"] > 0.99
    assert set(last.metrics) == {"train_r2", "val_r2", "val_mae"}  # no accuracy
    with torch.no_grad():
        pred = result.model(torch.from_numpy(val.x)).numpy()[:, 0]
    assert pred.shape == (128,) and np.abs(pred - val.y).mean() < 1.0  # in the target's units
    assert last.metrics["val_mae"] == pytest.approx(float(np.abs(pred - val.y).mean()), rel=1e-3)
    assert last.val_loss < 0.01  # MSE on the standardised target


def test_the_first_epoch_starts_near_the_loss_of_predicting_the_mean():
    train, val = linear_data(256, 0), linear_data(64, 1)
    result = fit(linear_body, train, val, TrainSpec(epochs=1, batch_size=256, optimizer={"lr": 1e-6}))
    assert 0.5 < result.history.epochs[0].train_loss < 3.0  # ~1 + the initial weights' variance


def test_history_csv_has_regression_columns_and_round_trips():
    train, val = linear_data(128, 0), linear_data(32, 1)
    history = fit(linear_body, train, val, TrainSpec(epochs=2, batch_size=32)).history
    header = history.to_csv().splitlines()[0].split(",")
    assert "val_r2" in header and "val_mae" in header and "val_accuracy" not in header
    again = HISTORY.validate_python(HISTORY.dump_python(history))
    assert again.task == "regression"
    assert again.epochs[1].metrics["val_r2"] == pytest.approx(history.epochs[1].metrics["val_r2"])


@pytest.mark.parametrize("old_records", [False, True])
def test_resume_gives_the_same_regression_run(tmp_path, old_records):
    train, val = linear_data(256, 0), linear_data(64, 1)
    spec = TrainSpec(epochs=4, batch_size=32, early_stopping={"monitor": "val_r2", "patience": 3})
    straight = fit(linear_body, train, val, spec, checkpoint=tmp_path / "a.safetensors")
    # a run killed after epoch 2 of 4 (its second checkpoint) goes on from its checkpoint
    half = tmp_path / "c.safetensors"

    class KillInEpochThree:
        def epoch_start(self, epoch, epochs, steps):
            if epoch == 3:
                raise KeyboardInterrupt

        def step(self, done): ...
        def epoch_end(self, record): ...

    with pytest.raises(KeyboardInterrupt):
        fit(linear_body, train, val, spec, checkpoint=half, events=KillInEpochThree())
    if old_records:  # a checkpoint of the previous code: every task's figures a field of the record
        tensors, meta = load_tensors(half)
        meta["records"] = [{**{k: v for k, v in r.items() if k != "metrics"}, "train_accuracy": math.nan,
                            "val_accuracy": math.nan, **r["metrics"]} for r in meta["records"]]
        save_tensors(half, tensors, meta, checksum=True)
    resumed = fit(linear_body, train, val, spec, checkpoint=half, resume=True)
    assert ([r.metrics["val_r2"] for r in resumed.history.epochs]
            == [r.metrics["val_r2"] for r in straight.history.epochs])
    assert torch.equal(resumed.model.y_mean, straight.model.y_mean)


def test_a_regression_that_blows_up_is_stopped_as_diverged():
    train, val = linear_data(256, 0), linear_data(64, 1)
    result = fit(linear_body, train, val, TrainSpec(epochs=5, batch_size=32, optimizer={"name": "sgd", "lr": 5.0}))
    assert result.history.stop_reason == "diverged"
    assert "predicting the training mean" in result.history.stop_detail or "NaN" in result.history.stop_detail
