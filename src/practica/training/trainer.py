"""The training loop: data resident as one tensor, batches sliced and augmented as tensors.

``fit`` trains one network on a train/val pair and returns it with its ``History``. It
checkpoints after every epoch and, given ``resume=True``, continues a killed run from its
last checkpoint to the same result: every random draw comes from generators whose state is
saved with the weights.

Below ``fit``: ``train_epoch`` (the epoch's batches, each through ``train_step``) and
``validate_epoch``. Around it: ``device`` (device, bf16 autocast and layout), ``allocator``, ``dropout``,
``reorder`` and ``flatten`` (a CPU run's memory reuse and dropout masks, pool before ReLU, gradients in
the batch's layout), ``objective`` (the loss, targets, validation and record of the task), ``callbacks``
(progress, the divergence guard, lookahead), ``early_stopping`` and ``checkpoint`` (callbacks too),
``batches``, ``augment`` and ``schedules``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from practica.config.layers import Shorthand
from practica.config.schema import TrainSpec
from practica.data.records import Dataset
from practica.errors import ConfigError
from practica.models.classifier import Classifier, Network, Regressor, as_input, text_classifier
from practica.models.hooks import DataInitialised, EpochAware, MultiView
from practica.models.transfer import Frozen
from practica.tasks import get_task
from practica.training import augment as aug
from practica.training.allocator import keep_freed_memory
from practica.training.batches import Mapped, Resident, rows_to_tensor
from practica.training.callbacks import (
    Callback,
    Callbacks,
    DivergenceGuard,
    LookaheadAveraging,
    Loop,
    Progress,
    TrainingEvents,
)
from practica.training.checkpoint import Checkpoint
from practica.training.device import Device, pick_device
from practica.training.dropout import use_bit_dropout
from practica.training.early_stopping import EarlyStopping
from practica.training.flatten import keep_flatten_layout
from practica.training.history import History
from practica.training.objective import Objective, objective_for
from practica.training.precision import Probe, measure_training, probe_key
from practica.training.reorder import pool_before_relu
from practica.training.schedules import Schedule, make_optimizer, param_groups
from practica.training.transfer import TransferPlan, Unfreeze

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer

__all__ = ["FitResult", "TrainingEvents", "fit", "pick_device", "wrap_body"]


@dataclass
class FitResult:
    model: Network
    history: History


def fit(
    make_body: Callable[[], nn.Module],
    train: Dataset,
    val: Dataset,
    spec: TrainSpec,
    augment: Sequence[Shorthand] = (),
    *,
    checkpoint: Path | None = None,
    resume: bool = False,
    events: TrainingEvents | None = None,
    device: str = "auto",
    preprocess: nn.Module | None = None,
    transfer: TransferPlan | None = None,
    callbacks: Sequence[Callback] = (),
    tokenizer: TextTokenizer | None = None,
    precision_cache: Path | None = None,
) -> FitResult:
    """Train the network that ``make_body()`` builds (logits out) and return it with its history.

    ``make_body`` is called after seeding, so the initial weights depend only on ``spec.seed``.
    Example::

        result = fit(lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), train, val, TrainSpec(epochs=3))

    ``preprocess``: a CSV table's preprocessing, fitted on ``train`` (``models/preprocess.py``), put in
    front of the body instead of the mean/std normalisation.

    ``callbacks``: more callbacks, called after the built-in ones and the checkpoint (a resumed run's
    records are restored before their ``on_train_begin``); e.g. the tuner's pruning, which may raise.

    ``transfer``: for a body that ``make_body`` loads with pretrained weights, the layers frozen, when they
    learn again and the backbone's input normalisation (``training/transfer.py``).

    ``tokenizer``: for text splits (``train.kind == "text"``), the tokenizer fitted on ``train``; the texts
    train as its int64 ids (not normalised, not augmented) and the model is a ``TextClassifier``.

    ``precision_cache``: a JSON file where ``precision: auto`` keeps what it measured (``training/precision.py``),
    so that a resumed run, or another experiment of the suite with the same network, decides alike for free.
    """
    dev = Device(device, precision=spec.precision, images=train.kind == "image")
    if dev.device.type == "cpu":
        keep_freed_memory()  # each step reuses the last one's memory instead of faulting it in afresh
    run = Run.prepare(make_body, train, val, spec, augment, dev, preprocess, transfer, tokenizer, precision_cache)
    loop = Loop(run.model, run.optimizer, run.schedule, run.generator, spec.epochs, run.steps)
    stopping = EarlyStopping.from_spec(spec.early_stopping)
    hooks_in_order: list[Callback] = [
        *([LookaheadAveraging(spec.lookahead)] if spec.lookahead else []),
        DivergenceGuard(run.objective.guess_loss, run.objective.guess),
        stopping,
        *([Progress(events, dev.choice)] if events is not None else []),
        *([Unfreeze(run.frozen, transfer.unfreeze)] if transfer and transfer.unfreeze and run.frozen else []),
    ]
    if checkpoint is not None:
        config_hash = _config_hash(spec, augment, len(run.x_train), tokenizer)
        hooks_in_order.append(Checkpoint(checkpoint, config_hash=config_hash, callbacks=hooks_in_order,
                                         resume=resume))
    hooks = Callbacks([*hooks_in_order, *callbacks])

    hooks.on_train_begin(loop)  # a resumed run continues from its checkpoint here
    while loop.stop is None and len(loop.records) < spec.epochs:
        epoch = len(loop.records) + 1
        started = time.perf_counter()
        hooks.on_epoch_begin(loop, epoch)
        train_loss, train_accuracy = train_epoch(run, loop, epoch, hooks)
        val_fields = validate_epoch(run) if loop.stop is None else run.objective.not_validated()  # diverged
        record = run.objective.record(epoch, train_loss, train_accuracy, val_fields, lr=run.schedule.lr,
                                      seconds=time.perf_counter() - started)
        loop.records.append(record)
        run.schedule.after_epoch(record.val_loss)
        hooks.on_epoch_end(loop, record)
    hooks.on_train_end(loop)  # early stopping restores the best epoch's weights here

    stop = loop.stop
    history = History(
        epochs=tuple(loop.records),
        stop_reason="completed" if stop is None else stop.reason,
        best_epoch=stopping.kept_epoch,
        monitor=stopping.monitor,
        max_epochs=spec.epochs,
        stop_detail="" if stop is None else stop.detail,
        validation_note=_validation_note(run.model),
        precision=dev.choice,
    )
    run.model.eval()
    return FitResult(model=run.model, history=history)


@dataclass
class Run:
    """A run's fixed parts, as ``train_epoch``, ``train_step`` and ``validate_epoch`` use them: its data on
    the device, the model, the objective, the optimisation and the random generator of the batches' order
    and augmentations. ``prepare`` seeds and builds them; the callbacks see the ``Loop``."""

    device: Device
    x_train: Resident | Mapped
    y_train: torch.Tensor
    x_val: Resident | Mapped
    y_val: torch.Tensor
    model: Network
    objective: Objective
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    augmenter: aug.Augmenter
    generator: torch.Generator
    batch_size: int
    steps: int  # per epoch
    grad_clip: float | None
    frozen: Frozen | None = None  # a fine-tune's frozen layers

    @classmethod
    def prepare(cls, make_body: Callable[[], nn.Module], train: Dataset, val: Dataset, spec: TrainSpec,
                augment: Sequence[Shorthand], dev: Device, preprocess: nn.Module | None,
                transfer: TransferPlan | None = None, tokenizer: TextTokenizer | None = None,
                precision_cache: Path | None = None) -> Run:
        if (train.kind == "text") != (tokenizer is not None):
            raise ValueError("a text split trains with the tokenizer fitted on it, and only a text split does; "
                             f"got {train.kind} data and {'a' if tokenizer else 'no'} tokenizer")
        if tokenizer is not None and augment:
            raise ConfigError(_text_augment_error(augment))
        torch.manual_seed(spec.seed)
        # Resident tensors on the device, or memory-mapped splits read a batch at a time; texts as token ids.
        x_train, x_val = dev.split(train, tokenizer), dev.split(val, tokenizer)
        model: Network
        if tokenizer is not None:
            model = text_classifier(make_body(), train.task).to(dev.device)
        else:
            # A table's raw rows hold NaN and category codes: its fitted preprocessing replaces the normalisation.
            width = train.x.shape[1]
            mean, std = x_train.stats() if preprocess is None else (torch.zeros(1, width), torch.ones(1, width))
            if transfer is not None and transfer.mean is not None and transfer.std is not None:
                mean, std = transfer.mean, transfer.std  # the statistics the backbone's features were learned on
            model = wrap_body(make_body(), mean, std, train, preprocess).to(dev.device)
        pool_before_relu(model)  # the same function, ReLU on a quarter of the values
        if dev.device.type == "cpu":
            use_bit_dropout(model)  # PyTorch's CPU dropout draws its mask one element at a time
            keep_flatten_layout(model)  # a channels-last batch's gradient stays channels-last below the flatten
        frozen = transfer.frozen(model.body) if transfer is not None else None
        if transfer is None:  # a pretrained body keeps its weights (fastnet's whitening filters too)
            _init_from_data(model, x_train)
        objective = objective_for(train, spec, model, dev.device)
        y_train = objective.targets(train, dev.device)

        n = len(x_train)
        batch_size = min(spec.batch_size, n)
        # precision: auto measures this network's training step both ways (on a copy) before it is laid out.
        dev.choose_precision(lambda: _probe(model, objective, spec, x_train, y_train, batch_size, dev.images),
                             probe_key(dev.processor, model, batch_size, train.input_shape), precision_cache)
        model = dev.layout(model)
        # A last batch of one sample breaks batch norm's statistics; drop it in that case only.
        steps = n // batch_size + (1 if n % batch_size > 1 else 0)
        groups = param_groups(model)
        if transfer is not None and frozen is not None:
            groups = transfer.param_groups(groups if isinstance(groups[0], dict) else [{"params": groups}], frozen)
        optimizer = make_optimizer(spec.optimizer, groups, spec.schedule)
        return cls(
            device=dev,
            x_train=x_train,
            y_train=y_train,
            x_val=x_val,
            y_val=objective.targets(val, dev.device),
            model=model,
            objective=objective,
            optimizer=optimizer,
            schedule=Schedule(spec.schedule, optimizer, steps, spec.epochs),
            augmenter=aug.Augmenter(augment, n, spec.seed, dev.device),
            generator=torch.Generator(device=dev.device).manual_seed(spec.seed),
            batch_size=batch_size,
            steps=steps,
            grad_clip=spec.grad_clip,
            frozen=frozen,
        )


def train_epoch(run: Run, loop: Loop, epoch: int, hooks: Callbacks) -> tuple[float, float]:
    """One pass over the training split in a fresh random order: the epoch's mean training loss and accuracy
    (NaN for a regression). Ends early when a callback stops the run (the divergence guard)."""
    model = run.model
    if isinstance(model.body, EpochAware):
        model.body.start_epoch(epoch)
    model.train()
    if run.frozen is not None:
        run.frozen.hold()  # frozen layers keep their batch-norm statistics
    loss_sum = torch.zeros((), device=run.device.device)
    correct = torch.zeros((), device=run.device.device, dtype=torch.long)
    seen = 0
    perm = torch.randperm(len(run.x_train), generator=run.generator, device=run.device.device)
    batches = run.x_train.batches(perm, run.batch_size, run.steps)
    for step in range(run.steps):
        idx = perm[step * run.batch_size : (step + 1) * run.batch_size]
        xb = run.device.batch(run.augmenter(as_input(next(batches)), idx, epoch, run.generator))
        yb = run.y_train[idx]
        logits, loss = train_step(run, xb, yb)
        loss_sum += run.objective.batch_loss(loss, logits, yb)
        if (right := run.objective.correct(logits, yb)) is not None:
            correct += right
        seen += len(idx)
        hooks.on_step_end(loop, step + 1, loss_sum)
        if loop.stop is not None:
            break
    batches.close()  # a mapped split's reader stops (after a break too)
    train_loss = (loss_sum / max(seen, 1)).item()
    return train_loss, correct.item() / max(seen, 1)


def train_step(run: Run, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch: forward and loss under the device's autocast, backward, gradient
    clipping (``train.grad_clip``), the step and the learning-rate schedule. Returns the logits and the loss."""
    with run.device.autocast():
        logits = run.model(xb)
        loss = run.objective.loss(logits, yb)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.grad_clip:
        nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
    run.optimizer.step()
    run.schedule.after_step()
    return logits, loss


def validate_epoch(run: Run) -> dict[str, float]:
    """The epoch's validation fields (loss, and accuracy or R² and MAE), under bf16 autocast when training is."""
    return run.objective.validate(run.model, run.x_val, run.y_val, run.device.bf16)


def _probe(model: Network, objective: Objective, spec: TrainSpec, x: Resident | Mapped, y: torch.Tensor,
           batch_size: int, images: bool) -> Probe:
    """A training step of copies of ``model`` timed in fp32 and bf16, on the split's first batch."""
    batches = x.batches(torch.arange(batch_size, device=y.device), batch_size, 1)
    xb = as_input(next(batches))
    batches.close()
    return measure_training(model, objective.loss,
                            lambda net: make_optimizer(spec.optimizer, param_groups(net), spec.schedule),
                            xb, y[:batch_size], images=images)


def _init_from_data(model: Network, x: Resident | Mapped, samples: int = 5000) -> None:
    """Give a network with a data-dependent initialisation (``DataInitialised``, e.g. ``fastnet``'s whitening
    filters) ``samples`` training inputs spread evenly over the split (which may be in class order), normalised
    as it sees them. A resumed run then loads its checkpoint's weights."""
    if not isinstance(model.body, DataInitialised) or not isinstance(model, Classifier):
        return
    step = max(1, len(x) // samples)
    rows = x.x[::step][:samples]
    picked = rows if isinstance(rows, torch.Tensor) else rows_to_tensor(np.asarray(rows), model.mean.device)
    with torch.no_grad():
        model.body.init_from_data((as_input(picked) - model.mean) / model.std)


def _validation_note(model: Network) -> str:
    views = model.body.views if isinstance(model.body, MultiView) else 1
    if views <= 1:
        return ""
    return (f"per-epoch validation: one view per image; the evaluation scores the model as deployed, "
            f"averaging {views} test-time views, so its validation accuracy differs from the curve's")


def wrap_body(body: nn.Module, mean: torch.Tensor, std: torch.Tensor, train: Dataset,
              preprocess: nn.Module | None = None) -> Classifier:
    """The body with input normalisation; a regression's also with the training target's mean and std."""
    if get_task(train.task).has_classes:
        return Classifier(body, mean, std, preprocess)
    y = np.asarray(train.y, dtype=np.float64)
    return Regressor(body, mean, std, preprocess, y_mean=float(y.mean()), y_std=float(y.std()))


def _text_augment_error(augment: Sequence[Shorthand]) -> str:
    return (f"augmentation ({', '.join(a.type for a in augment)}) transforms images, but this data set is text; "
            "remove 'augment' from the experiment (or set it to [])")


def _config_hash(spec: TrainSpec, augment: Sequence[Shorthand], n_train: int,
                 tokenizer: TextTokenizer | None = None) -> str:
    parts: list = [spec.model_dump(mode="json"), [a.model_dump() for a in augment], n_train]
    if tokenizer is not None:  # a checkpoint's ids mean something only under the vocabulary they were made with
        parts.append(hashlib.sha256(json.dumps(tokenizer.to_dict(), sort_keys=True).encode()).hexdigest())
    blob = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
