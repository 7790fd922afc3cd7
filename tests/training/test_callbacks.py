"""The loop's parts on their own: callbacks and their checkpointed state, the device adapter, the model hooks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from practica.config.schema import LookaheadSpec, ModelSpec, TrainSpec
from practica.errors import RunError
from practica.models.classifier import Classifier
from practica.models.fastnet import fastnet
from practica.models.hooks import DataInitialised, EpochAware, MultiView
from practica.models.registry import build_network
from practica.training.callbacks import DivergenceGuard, LookaheadAveraging, Loop, Progress, Stop
from practica.training.checkpoint import load_tensors, save_tensors
from practica.training.device import Device
from practica.training.early_stopping import EarlyStopping
from practica.training.history import EpochRecord
from practica.training.schedules import Schedule, make_optimizer
from practica.training.trainer import fit


def record(epoch: int, val_loss: float, train_loss: float = 1.0) -> EpochRecord:
    return EpochRecord(epoch, train_loss, val_loss, 0.1, 1.0, {"train_accuracy": 0.5, "val_accuracy": 0.5})


def small_loop(epochs: int = 4, steps: int = 3) -> Loop:
    model = Classifier(nn.Linear(2, 2), torch.zeros(1, 2), torch.ones(1, 2))
    spec = TrainSpec(epochs=epochs)
    optimizer = make_optimizer(spec.optimizer, list(model.parameters()), spec.schedule)
    return Loop(model, optimizer, Schedule(spec.schedule, optimizer, steps, epochs), torch.Generator(), epochs, steps)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    loop = small_loop()
    stopping = EarlyStopping(patience=2, restore_best=True)
    stopping.on_train_begin(loop)
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.6], start=1):
        if epoch == 2:
            best = {k: v.clone() for k, v in loop.model.state_dict().items()}
        stopping.on_epoch_end(loop, record(epoch, loss))
        with torch.no_grad():
            loop.model.body.weight.add_(1.0)  # the weights move on after every epoch
    assert loop.stop == Stop("early_stopping", "val_loss did not improve for 2 epochs after epoch 2")
    stopping.on_train_end(loop)
    assert stopping.kept_epoch == 2
    assert all(torch.equal(v, best[k]) for k, v in loop.model.state_dict().items())


def test_divergence_outranks_early_stopping_and_restores_the_best_weights_without_restore_best():
    loop = small_loop()
    guard, stopping = DivergenceGuard(math.log(2), "a uniform guess"), EarlyStopping(patience=1)
    for c in (guard, stopping):
        c.on_train_begin(loop)
    for epoch, (train, val) in enumerate([(0.6, 0.5), (5.0, 0.9)], start=1):
        loop.records.append(record(epoch, val, train))
        for c in (guard, stopping):  # in fit's order
            c.on_epoch_end(loop, loop.records[-1])
    assert loop.stop is not None and loop.stop.reason == "diverged"
    assert loop.stop.detail == "training loss 5 in epoch 2 is over 3× that of a uniform guess (0.693)"
    stopping.on_train_end(loop)
    assert stopping.kept_epoch == 1


def test_a_nan_running_loss_ends_the_epoch_at_the_next_check():
    loop = small_loop()
    guard = DivergenceGuard(1.0, "predicting the training mean")
    guard.on_epoch_begin(loop, 3)
    guard.on_step_end(loop, 24, torch.tensor(math.nan))
    assert loop.stop is None  # checked every 25 steps only
    guard.on_step_end(loop, 25, torch.tensor(math.nan))
    assert loop.stop == Stop("diverged", "training loss became NaN or infinite in epoch 3")


@pytest.mark.parametrize("make", [lambda: EarlyStopping(patience=3), lambda: LookaheadAveraging(LookaheadSpec())])
def test_callback_state_round_trips_through_a_checkpoint(make, tmp_path):
    # Every callback with a name: its state_dict, split into tensors and JSON as a checkpoint keeps it,
    # loads into a fresh one that then gives the same state.
    loop = small_loop()
    first = make()
    first.on_train_begin(loop)
    for epoch, loss in enumerate([0.9, 0.7, 0.8], start=1):
        with torch.no_grad():
            loop.model.body.weight.mul_(0.5)
        first.on_step_end(loop, epoch, torch.tensor(loss))
        first.on_epoch_end(loop, record(epoch, loss))
    state = first.state_dict()
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    assert tensors  # the weights this callback keeps
    save_tensors(tmp_path / "s.safetensors", tensors, {k: v for k, v in state.items() if k not in tensors})
    saved, meta = load_tensors(tmp_path / "s.safetensors")
    second = make()
    second.on_train_begin(small_loop())
    second.load_state_dict({**meta, **saved})
    again = second.state_dict()
    assert again.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(again[k], v) if isinstance(v, torch.Tensor) else again[k] == v, k


def test_progress_tells_the_display_each_event():
    heard = []

    class Display:
        def epoch_start(self, epoch, epochs, steps):
            heard.append(("start", epoch, epochs, steps))

        def step(self, done):
            heard.append(("step", done))

        def epoch_end(self, r):
            heard.append(("end", r.epoch))

    loop, progress = small_loop(epochs=4, steps=3), Progress(Display())
    progress.on_epoch_begin(loop, 1)
    progress.on_step_end(loop, 1, torch.zeros(()))
    progress.on_epoch_end(loop, record(1, 0.5))
    assert heard == [("start", 1, 4, 3), ("step", 1), ("end", 1)]


@pytest.mark.parametrize(
    ("precision", "images", "bf16", "channels_last"),
    [("fp32", True, False, True), ("fp32", False, False, False),  # on a CPU, images are channels-last in fp32 too
     ("bf16", True, True, True), ("bf16", False, True, False)],
)
def test_the_device_decides_autocast_and_layout_together(precision, images, bf16, channels_last):
    dev = Device("cpu", precision=precision, images=images)
    assert (dev.bf16, dev.channels_last) == (bf16, channels_last)
    x = torch.zeros(2, 3, 4, 4)
    assert dev.batch(x).is_contiguous(memory_format=torch.channels_last) == channels_last
    conv = dev.layout(nn.Conv2d(3, 4, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_model_hooks_are_typed_protocols():
    net = fastnet((3, 16, 16), 2, widths=(8, 8, 8))
    assert isinstance(net, DataInitialised) and isinstance(net, EpochAware) and isinstance(net, MultiView)
    plain = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    assert not any(isinstance(plain, p) for p in (DataInitialised, EpochAware, MultiView))


CNN = ModelSpec(layers=[{"conv": 8}, "batchnorm", "relu", "maxpool", "flatten", {"dense": 32}, "relu"])


def test_resuming_a_run_that_stopped_early_keeps_its_stop_and_its_best_weights(digits_pair, tmp_path):
    # The last checkpoint is written in the epoch that triggers early stopping (here the last planned
    # epoch): a resume from it trains nothing more and ends as the run did.
    train, val = digits_pair
    spec = TrainSpec(epochs=2, batch_size=64, optimizer={"name": "adam", "lr": 0.05},
                     early_stopping={"monitor": "val_loss", "patience": 1, "min_delta": 10.0, "restore_best": True})
    body = lambda: build_network(CNN, (1, 8, 8), 10)  # noqa: E731
    ckpt = tmp_path / "a.safetensors"
    straight = fit(body, train, val, spec, checkpoint=ckpt)
    assert straight.history.stop_reason == "early_stopping" and straight.history.best_epoch == 1
    resumed = fit(body, train, val, spec, checkpoint=ckpt, resume=True)
    assert resumed.history == straight.history
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_a_checkpoint_of_an_earlier_layout_is_refused(digits_pair, tmp_path):
    train, val = digits_pair
    spec = TrainSpec(epochs=1, batch_size=64)
    body = lambda: build_network(CNN, (1, 8, 8), 10)  # noqa: E731
    ckpt = tmp_path / "old.safetensors"
    fit(body, train, val, spec, checkpoint=ckpt)
    tensors, meta = load_tensors(ckpt)
    del meta["format"]
    save_tensors(ckpt, tensors, meta, checksum=True)
    with pytest.raises(RunError, match="earlier version of practica"):
        fit(body, train, val, spec, checkpoint=ckpt, resume=True)
