"""The training loop: data resident as one tensor, batches sliced and augmented as tensors.

``fit`` trains one network on a train/val pair and returns it with its ``History``. It
checkpoints after every epoch and, given ``resume=True``, continues a killed run from its
last checkpoint to the same result: every random draw comes from generators whose state is
saved with the weights.

Around it: ``batches`` (a split on the device, resident or memory-mapped), ``augment``,
``validation`` (per-epoch validation), ``early_stopping``,
``schedules``, ``lookahead`` and ``checkpoint``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from practica.config.layers import Shorthand
from practica.config.schema import TrainSpec
from practica.data.records import Dataset
from practica.errors import RunError
from practica.models.classifier import Classifier, Regressor
from practica.tasks import get_task
from practica.training import augment as aug
from practica.training.batches import (
    Mapped,
    Resident,
    as_input,
    resident_or_mapped,
    rows_to_tensor,
)
from practica.training.checkpoint import (
    join_optimizer_state,
    load_tensors,
    prefixed,
    save_tensors,
    split_optimizer_state,
    unprefixed,
)
from practica.training.early_stopping import EarlyStopping
from practica.training.history import EpochRecord, History, StopReason
from practica.training.lookahead import Lookahead
from practica.training.schedules import Schedule, make_optimizer, param_groups
from practica.training.validation import validate, validate_regression

# A run has diverged when its epoch's mean training loss exceeds this multiple of the loss of a
# uniform guess, ln(classes): a network that starts there and triples it is not learning.
# For regression the reference is 1.0, the loss (MSE on the standardised target) of predicting the
# training mean: a regression whose training loss is three times that of the mean is not learning.
EXPLODE_FACTOR = 3.0
# How often (in steps) the running loss is checked for NaN: often enough to stop a broken run
# within seconds, rarely enough that the host-device sync costs nothing measurable.
NAN_CHECK_EVERY = 25


class TrainingEvents(Protocol):
    """What a progress display hears from the loop (see ``practica.cli`` for the rich one)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, done: int) -> None: ...
    def epoch_end(self, record: EpochRecord) -> None: ...


class _Silent:
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, done: int) -> None: ...
    def epoch_end(self, record: EpochRecord) -> None: ...


@dataclass
class FitResult:
    model: Classifier
    history: History


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _init_from_data(model: Classifier, x: Resident | Mapped, samples: int = 5000) -> None:
    """Give a network with a data-dependent initialisation (an ``init_from_data(images)`` method, e.g.
    ``fastnet``'s whitening filters) ``samples`` training inputs spread evenly over the split (which
    may be in class order), normalised as it sees them. A resumed run then loads its checkpoint's weights."""
    init = getattr(model.body, "init_from_data", None)
    if not callable(init):
        return
    step = max(1, len(x) // samples)
    rows = x.x[::step][:samples]
    picked = rows if isinstance(rows, torch.Tensor) else rows_to_tensor(np.asarray(rows), model.mean.device)
    with torch.no_grad():
        init((as_input(picked) - model.mean) / model.std)


def _start_epoch(model: Classifier, epoch: int) -> None:
    """Tell a network with a per-epoch plan (a ``start_epoch(epoch)`` method, e.g. ``fastnet``'s
    whitening bias, trained for the first epochs only) which epoch begins; called on resume too."""
    start = getattr(model.body, "start_epoch", None)
    if callable(start):
        start(epoch)


def _one_view(model: Classifier) -> contextlib.AbstractContextManager:
    """Per-epoch validation of a network that ensembles views of each input in evaluation (a
    ``single_view()`` context, e.g. ``fastnet``'s test-time augmentation) sees one view: the curves
    follow the network as trained, and cost a fraction; the evaluation stage sees every view."""
    single = getattr(model.body, "single_view", None)
    return single() if callable(single) else contextlib.nullcontext()


def _validation_note(model: Classifier) -> str:
    views = getattr(model.body, "views", 1) if callable(getattr(model.body, "single_view", None)) else 1
    if views <= 1:
        return ""
    return (f"per-epoch validation: one view per image; the evaluation scores the model as deployed, "
            f"averaging {views} test-time views, so its validation accuracy differs from the curve's")


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` means bfloat16 autocast on ``device`` (``auto``: where bf16 units exist)."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # Without AMX, bf16 on a CPU is emulated and slower than fp32.
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(amx and amx())


def _targets(data: Dataset, device: torch.device) -> torch.Tensor:
    """Class indices (int64), or a regression's values (float32)."""
    y = np.asarray(data.y)
    return get_task(data.task).targets(y).to(device)


def wrap_body(body: nn.Module, mean: torch.Tensor, std: torch.Tensor, train: Dataset,
              preprocess: nn.Module | None = None) -> Classifier:
    """The body with input normalisation; a regression's also with the training target's mean and std."""
    if get_task(train.task).has_classes:
        return Classifier(body, mean, std, preprocess)
    y = np.asarray(train.y, dtype=np.float64)
    return Regressor(body, mean, std, preprocess, y_mean=float(y.mean()), y_std=float(y.std()))

def _config_hash(spec: TrainSpec, augment: Sequence[Shorthand], n_train: int) -> str:
    blob = json.dumps([spec.model_dump(mode="json"), [a.model_dump() for a in augment], n_train], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
) -> FitResult:
    """Train the network that ``make_body()`` builds (logits out) and return it with its history.

    ``make_body`` is called after seeding, so the initial weights depend only on ``spec.seed``.
    Example::

        result = fit(lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), train, val, TrainSpec(epochs=3))

    ``preprocess``: a CSV table's preprocessing, fitted on ``train`` (``models/preprocess.py``), put in
    front of the body instead of the mean/std normalisation.
    """
    events = events or _Silent()
    dev = pick_device(device)
    torch.manual_seed(spec.seed)
    num_classes = len(train.classes)
    task = get_task(train.task)
    regression = not task.has_classes

    # Resident tensors on the device, or memory-mapped splits read a batch at a time.
    x_train, y_train = resident_or_mapped(train, dev), _targets(train, dev)
    x_val, y_val = resident_or_mapped(val, dev), _targets(val, dev)
    # A table's raw rows hold NaN and category codes: its fitted preprocessing replaces the normalisation.
    width = train.x.shape[1]
    mean, std = x_train.stats() if preprocess is None else (torch.zeros(1, width), torch.ones(1, width))
    model = wrap_body(make_body(), mean, std, train, preprocess).to(dev)
    _init_from_data(model, x_train)
    bf16 = uses_bf16(spec.precision, dev)
    channels_last = bf16 and train.kind == "image"  # oneDNN's bf16 convolutions are fastest in NHWC
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    n = len(x_train)
    batch_size = min(spec.batch_size, n)
    # A last batch of one sample breaks batch norm's statistics; drop it in that case only.
    steps = n // batch_size + (1 if n % batch_size > 1 else 0)
    optimizer = make_optimizer(spec.optimizer, param_groups(model), spec.schedule)
    schedule = Schedule(spec.schedule, optimizer, steps, spec.epochs)
    lookahead = Lookahead(spec.lookahead, model, steps * spec.epochs) if spec.lookahead else None
    augmenter = aug.Augmenter(augment, n, spec.seed, dev)
    # With class weights, the history records the unweighted loss, so the training loss compares
    # with the (unweighted) validation loss as it does without them, for the diagnosis too.
    loss_fn, record_fn = task.losses(model, train, spec, dev)
    gen = torch.Generator(device=dev).manual_seed(spec.seed)
    es_spec = spec.early_stopping
    stopper = EarlyStopping(
        es_spec.monitor if es_spec else "val_loss",
        es_spec.direction if es_spec else "min",
        es_spec.patience if es_spec else None,
        es_spec.min_delta if es_spec else 0.0,
    )
    records: list[EpochRecord] = []
    best_state: dict[str, torch.Tensor] | None = None
    config_hash = _config_hash(spec, augment, n)

    if resume and checkpoint is not None and checkpoint.exists():
        tensors, meta = load_tensors(checkpoint, verify=True)
        if meta.get("config_hash") != config_hash:
            raise RunError(
                f"checkpoint {checkpoint} was made with another training config or data; "
                "start a new run instead of --resume, or restore the suite it was made with."
            )
        model.load_state_dict(unprefixed("model", tensors))
        optimizer.load_state_dict(join_optimizer_state(unprefixed("opt", tensors), meta["optimizer"]))
        schedule.load_state_dict(meta["schedule"])
        stopper.load(meta["stopper"])
        torch.set_rng_state(tensors["rng.torch"])
        gen.set_state(tensors["rng.gen"])
        records = [EpochRecord(**r) for r in meta["records"]]
        if lookahead is not None:
            lookahead.load(unprefixed("lookahead", tensors))
        best = unprefixed("best", tensors)
        best_state = best or None

    initial_loss, reference = task.chance_loss(num_classes), task.chance
    stop_reason: StopReason = "completed"
    stop_detail = ""
    for epoch in range(len(records) + 1, spec.epochs + 1):
        if records and stopper.should_stop:  # resumed from the epoch that triggered early stopping
            stop_reason, stop_detail = "early_stopping", stopper.describe()
            break
        started = time.perf_counter()
        events.epoch_start(epoch, spec.epochs, steps)
        _start_epoch(model, epoch)
        model.train()
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        perm = torch.randperm(n, generator=gen, device=dev)
        diverged = False
        batches = x_train.batches(perm, batch_size, steps)
        for step in range(steps):
            idx = perm[step * batch_size : (step + 1) * batch_size]
            xb = augmenter(as_input(next(batches)), idx, epoch, gen)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_train[idx]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb)
                loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimizer.step()
            schedule.after_step()
            if lookahead is not None:
                lookahead.after_step(model, schedule.step_count)
            loss_sum += (loss.detach() if record_fn is loss_fn else record_fn(logits.detach(), yb)) * len(idx)
            if not regression:
                correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
            events.step(step + 1)
            if (step + 1) % NAN_CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                diverged = True
                break
        batches.close()  # a mapped split's reader stops (after a break too)
        train_loss = (loss_sum / max(seen, 1)).item()
        train_acc = math.nan if regression else correct.item() / max(seen, 1)
        val_r2 = val_mae = math.nan
        if regression:
            val_loss, val_r2, val_mae = (validate_regression(model, x_val, y_val, loss_fn) if not diverged
                                         else (math.nan, math.nan, math.nan))
            val_acc = math.nan
        else:
            with _one_view(model):
                val_loss, val_acc = validate(model, x_val, y_val, bf16) if not diverged else (math.nan, math.nan)
        if not math.isfinite(val_loss):
            val_loss, val_acc = math.nan, val_acc if math.isfinite(val_acc) else math.nan
            val_r2 = val_mae = math.nan
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss if math.isfinite(train_loss) else math.nan,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=schedule.lr,
            seconds=time.perf_counter() - started,
            **({"train_r2": 1.0 - train_loss if math.isfinite(train_loss) else math.nan, "val_r2": val_r2,
                "val_mae": val_mae} if regression else {}),
        )
        records.append(record)
        schedule.after_epoch(val_loss)
        if stopper.update(record):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        events.epoch_end(record)

        if diverged or not math.isfinite(train_loss):
            stop_reason, stop_detail = "diverged", f"training loss became NaN or infinite in epoch {epoch}"
        elif train_loss > EXPLODE_FACTOR * initial_loss:
            stop_reason = "diverged"
            stop_detail = (
                f"training loss {train_loss:.3g} in epoch {epoch} is over {EXPLODE_FACTOR:g}× that of {reference} "
                f"({initial_loss:.3g})"
            )
        if stop_reason == "diverged":
            break  # not checkpointed: a resume would only diverge again
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, schedule, stopper, gen, records, best_state, config_hash,
                             lookahead)
        if stopper.should_stop:
            stop_reason, stop_detail = "early_stopping", stopper.describe()
            break

    restore = stop_reason == "diverged" or (es_spec is not None and es_spec.restore_best)
    if restore and best_state is not None:
        model.load_state_dict(best_state)
        best_epoch = stopper.best_epoch
    else:
        best_epoch = records[-1].epoch if records else None
    history = History(
        epochs=tuple(records),
        stop_reason=stop_reason,
        best_epoch=best_epoch,
        monitor=stopper.monitor,
        max_epochs=spec.epochs,
        stop_detail=stop_detail,
        validation_note=_validation_note(model),
    )
    model.eval()
    return FitResult(model=model, history=history)


def _save_checkpoint(path, model, optimizer, schedule, stopper, gen, records, best_state, config_hash,
                     lookahead=None) -> None:
    opt_tensors, opt_skeleton = split_optimizer_state(optimizer.state_dict())
    tensors = {
        **prefixed("model", model.state_dict()),
        **prefixed("opt", opt_tensors),
        **(prefixed("best", best_state) if best_state else {}),
        **(prefixed("lookahead", lookahead.state()) if lookahead is not None else {}),
        "rng.torch": torch.get_rng_state(),
        "rng.gen": gen.get_state(),
    }
    meta = {
        "config_hash": config_hash,
        "optimizer": opt_skeleton,
        "schedule": schedule.state_dict(),
        "stopper": stopper.state(),
        "records": [r.__dict__ for r in records],
    }
    save_tensors(path, tensors, meta, checksum=True)
