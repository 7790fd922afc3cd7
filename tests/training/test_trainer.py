"""The training loop: history, early stopping, the divergence guard, and resuming to the same result."""

from __future__ import annotations

import math

import pytest
import torch
from killed_training import Kill, KillAt, without_seconds

from practica.config.layers import Crop, HFlip
from practica.config.schema import ModelSpec, TrainSpec
from practica.errors import RunError
from practica.models.registry import build_network
from practica.training.trainer import fit

CNN = ModelSpec(
    layers=[{"conv": 8}, "batchnorm", "relu", "maxpool", {"dropout": 0.2}, "flatten", {"dense": 32}, "relu"],
)


def body(spec: ModelSpec = CNN):
    return lambda: build_network(spec, (1, 8, 8), 10)


def train_spec(**kw) -> TrainSpec:
    return TrainSpec.model_validate({"epochs": 4, "batch_size": 64, **kw})


@pytest.mark.slow
def test_history_has_one_record_per_epoch(digits_pair):
    train, val = digits_pair
    result = fit(body(), train, val, train_spec(schedule="cosine"))
    h = result.history
    assert [r.epoch for r in h.epochs] == [1, 2, 3, 4]
    assert h.stop_reason == "completed" and h.best_epoch == 4 and h.max_epochs == 4
    assert h.epochs[-1].metrics["val_accuracy"] > 0.5 and h.epochs[-1].train_loss < h.epochs[0].train_loss
    assert h.epochs[-1].lr < h.epochs[0].lr  # cosine decays
    assert all(r.seconds > 0 for r in h.epochs)


@pytest.mark.slow
def test_same_seed_same_run(digits_pair):
    train, val = digits_pair
    a = fit(body(), train, val, train_spec(epochs=2), [HFlip(), Crop(padding=1)])
    b = fit(body(), train, val, train_spec(epochs=2), [HFlip(), Crop(padding=1)])
    assert without_seconds(a.history) == without_seconds(b.history)
    c = fit(body(), train, val, train_spec(epochs=2, seed=1), [HFlip(), Crop(padding=1)])
    assert without_seconds(a.history) != without_seconds(c.history)


@pytest.mark.slow
def test_early_stopping_stops_and_restores_best(digits_pair):
    train, val = digits_pair
    # A huge model at a high learning rate on 600 images overfits within a few epochs.
    spec = train_spec(
        epochs=40, optimizer={"name": "adam", "lr": 0.003},
        early_stopping={"monitor": "val_loss", "patience": 2, "restore_best": True},
    )
    result = fit(body(ModelSpec(arch="mlp", params={"hidden": [512, 512]})), train, val, spec)
    h = result.history
    assert h.stop_reason == "early_stopping" and len(h.epochs) < 40
    best = min(h.epochs, key=lambda r: r.val_loss)
    assert h.best_epoch == best.epoch == len(h.epochs) - 2
    # The returned model is the best epoch's: its val loss matches that record.
    x = torch.from_numpy(val.x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(result.model(x), torch.from_numpy(val.y)).item()
    assert loss == pytest.approx(best.val_loss, rel=1e-4)


def test_divergence_is_stopped_and_recorded(digits_pair):
    train, val = digits_pair
    spec = train_spec(epochs=5, optimizer={"name": "sgd", "lr": 1e6, "momentum": 0.9})
    h = fit(body(), train, val, spec).history
    assert h.stop_reason == "diverged" and len(h.epochs) < 5
    assert "NaN" in h.stop_detail or "uniform guess" in h.stop_detail


@pytest.mark.slow
@pytest.mark.parametrize("early_stopping", [None, {"monitor": "val_accuracy", "patience": 2}])
def test_resume_after_kill_gives_the_same_result(digits_pair, tmp_path, early_stopping):
    train, val = digits_pair
    spec = train_spec(epochs=5, schedule={"name": "onecycle", "max_lr": 0.01}, early_stopping=early_stopping)
    augment = [HFlip(alternate=True), Crop(padding=1)]
    straight = fit(body(), train, val, spec, augment, checkpoint=tmp_path / "a.safetensors")

    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(Kill):
        fit(body(), train, val, spec, augment, checkpoint=ckpt, events=KillAt(epoch=3, step=4))
    torch.manual_seed(12345)  # the resumed process starts with other global RNG state
    resumed = fit(body(), train, val, spec, augment, checkpoint=ckpt, resume=True)

    assert without_seconds(resumed.history) == without_seconds(straight.history)
    assert resumed.history.best_epoch == straight.history.best_epoch
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_resume_with_changed_config_is_refused(digits_pair, tmp_path):
    train, val = digits_pair
    ckpt = tmp_path / "c.safetensors"
    fit(body(), train, val, train_spec(epochs=1), checkpoint=ckpt)
    with pytest.raises(RunError, match="another training config"):
        fit(body(), train, val, train_spec(epochs=1, batch_size=32), checkpoint=ckpt, resume=True)


def test_corrupt_checkpoint_is_a_clear_error(digits_pair, tmp_path):
    train, val = digits_pair
    ckpt = tmp_path / "d.safetensors"
    ckpt.write_bytes(b"not a safetensors file")
    with pytest.raises(RunError, match="d.safetensors has no recorded sha256"):
        fit(body(), train, val, train_spec(epochs=1), checkpoint=ckpt, resume=True)


def test_a_checkpoint_with_flipped_bytes_is_refused(digits_pair, tmp_path):
    # safetensors checks its header, not the tensors' bytes: only the recorded sha256 catches this.
    train, val = digits_pair
    ckpt = tmp_path / "e.safetensors"
    fit(body(), train, val, train_spec(epochs=1), checkpoint=ckpt)
    assert (tmp_path / "e.safetensors.sha256").read_text().endswith("  e.safetensors\n")
    data = bytearray(ckpt.read_bytes())
    for i in range(8):
        data[-64 - 8 * i] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    with pytest.raises(RunError, match="does not match its recorded sha256"):
        fit(body(), train, val, train_spec(epochs=1), checkpoint=ckpt, resume=True)


def test_features_train_too(digits_pair):
    from practica.data.records import Dataset

    train, val = digits_pair
    flat = lambda d: Dataset(d.name, d.x.reshape(len(d), -1).astype("float32") / 16, d.y, d.classes)  # noqa: E731
    spec = ModelSpec(arch="mlp", params={"hidden": [32]})
    h = fit(lambda: build_network(spec, (64,), 10), flat(train), flat(val),
            train_spec(epochs=5, optimizer={"name": "adam", "lr": 0.01})).history
    assert math.isfinite(h.epochs[-1].val_loss) and h.epochs[-1].metrics["val_accuracy"] > 0.7


@pytest.mark.slow
def test_resume_with_lookahead_gives_the_same_result(digits_pair, tmp_path):
    train, val = digits_pair
    spec = train_spec(epochs=4, schedule={"name": "onecycle", "max_lr": 0.01}, lookahead={"every": 3})
    straight = fit(body(), train, val, spec, checkpoint=tmp_path / "a.safetensors")
    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(Kill):
        fit(body(), train, val, spec, checkpoint=ckpt, events=KillAt(epoch=3, step=2))
    resumed = fit(body(), train, val, spec, checkpoint=ckpt, resume=True)
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
