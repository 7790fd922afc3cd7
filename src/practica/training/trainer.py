"""The training loop: data resident as one tensor, batches sliced and augmented as tensors.

``fit`` trains one network on a train/val pair and returns it with its ``History``. It
checkpoints after every epoch and, given ``resume=True``, continues a killed run from its
last checkpoint to the same result: every random draw comes from generators whose state is
saved with the weights.

A memory-mapped split (``dataset.memmap``, bigger than memory) is not made resident: each batch is
read from its file (the batch's rows in increasing order, for locality, while the previous batch
trains), converted to an N×C×H×W tensor and moved to the device; validation and the input
statistics go a chunk at a time. The batches are the same samples in the same order as resident,
so the history and weights are the same too.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from practica.config.layers import Shorthand
from practica.config.schema import TrainSpec
from practica.data.mapped import RowReader, chunks, gather, is_mapped, release
from practica.data.records import Dataset
from practica.errors import RunError
from practica.models.classifier import Classifier, Regressor, input_stats
from practica.training import augment as aug
from practica.training.checkpoint import (
    join_optimizer_state,
    load_tensors,
    prefixed,
    save_tensors,
    split_optimizer_state,
    unprefixed,
)
from practica.training.history import EpochRecord, History, StopReason
from practica.training.lookahead import Lookahead
from practica.training.schedules import Schedule, make_optimizer, param_groups

EVAL_BATCH = 1024
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


def to_tensor(data: Dataset, device: torch.device) -> torch.Tensor:
    """Images as uint8 (N, C, H, W), kept uint8 on the device (4× less memory than float); features as float32."""
    if data.kind == "image":
        return torch.from_numpy(np.ascontiguousarray(data.x.transpose(0, 3, 1, 2))).to(device)
    return torch.from_numpy(np.asarray(data.x, dtype=np.float32)).to(device)


def _rows_to_tensor(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """In-memory rows of a split as ``to_tensor`` gives them: uint8 N×C×H×W images, float32 features."""
    if rows.ndim == 4:
        return torch.from_numpy(np.array(rows.transpose(0, 3, 1, 2), order="C")).to(device)
    return torch.from_numpy(np.array(rows, dtype=np.float32)).to(device)


class _Resident:
    """A split as one tensor on the device: batches are slices of it (the fast path)."""

    def __init__(self, data: Dataset, device: torch.device) -> None:
        self.x = to_tensor(data, device)

    def __len__(self) -> int:
        return len(self.x)

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        return input_stats(self.x)

    def batches(self, perm: torch.Tensor, batch_size: int, steps: int) -> Iterator[torch.Tensor]:
        for step in range(steps):
            yield self.x[perm[step * batch_size : (step + 1) * batch_size]]

    def chunks(self, size: int) -> Iterator[torch.Tensor]:
        for i in range(0, len(self.x), size):
            yield self.x[i : i + size]


class _Mapped:
    """A memory-mapped split, left on disk: each batch read when needed (the next one in a thread
    while the current one trains), as the same tensor the resident split would give. The batch's
    rows are read from the file with ``pread`` (``mapped.RowReader``), in increasing order."""

    def __init__(self, data: Dataset, device: torch.device) -> None:
        self.x, self.device = data.x, device

    def __len__(self) -> int:
        return len(self.x)

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        return input_stats(self.x)

    def batches(self, perm: torch.Tensor, batch_size: int, steps: int) -> Iterator[torch.Tensor]:
        order = perm.cpu().numpy()
        reader = RowReader.open(self.x)

        def read(step: int) -> torch.Tensor:
            idx = order[step * batch_size : (step + 1) * batch_size]
            if reader is not None:
                rows = np.empty((len(idx), *self.x.shape[1:]), dtype=self.x.dtype)
                ranked = np.argsort(idx, kind="stable")
                rows[ranked] = reader.read(idx[ranked])  # in file order, placed in batch order
            else:
                rows = gather(self.x, idx)
                release(self.x)  # the page-cache folios the rows mapped in
            return _rows_to_tensor(rows, self.device)

        try:
            with ThreadPoolExecutor(1, thread_name_prefix="practica-batches") as pool:
                upcoming = pool.submit(read, 0) if steps else None
                for step in range(steps):
                    batch = upcoming.result()
                    upcoming = pool.submit(read, step + 1) if step + 1 < steps else None
                    yield batch
        finally:
            if reader is not None:
                reader.close()

    def chunks(self, size: int) -> Iterator[torch.Tensor]:
        for _, rows in chunks(self.x, size):
            yield _rows_to_tensor(rows, self.device)


def _resident_or_mapped(data: Dataset, device: torch.device) -> _Resident | _Mapped:
    return _Mapped(data, device) if is_mapped(data.x) else _Resident(data, device)


def _init_from_data(model: Classifier, x: _Resident | _Mapped, samples: int = 5000) -> None:
    """Give a network with a data-dependent initialisation (an ``init_from_data(images)`` method, e.g.
    ``fastnet``'s whitening filters) ``samples`` training inputs spread evenly over the split (which
    may be in class order), normalised as it sees them. A resumed run then loads its checkpoint's weights."""
    init = getattr(model.body, "init_from_data", None)
    if not callable(init):
        return
    step = max(1, len(x) // samples)
    rows = x.x[::step][:samples]
    picked = rows if isinstance(rows, torch.Tensor) else _rows_to_tensor(np.asarray(rows), model.mean.device)
    with torch.no_grad():
        init((as_input(picked) - model.mean) / model.std)


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` means bfloat16 autocast on ``device`` (``auto``: where bf16 units exist)."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # Without AMX, bf16 on a CPU is emulated and slower than fp32.
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(amx and amx())


def as_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → float in [0, 1]; features pass through."""
    return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch


class _EarlyStopping:
    def __init__(self, monitor: str, direction: str, patience: int | None, min_delta: float):
        self.monitor, self.direction, self.patience, self.min_delta = monitor, direction, patience, min_delta
        self.best = math.inf if direction == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0

    def update(self, record: EpochRecord) -> bool:
        """Returns True when this epoch is the new best."""
        value = getattr(record, self.monitor)
        if not math.isfinite(value):
            self.wait += 1
            return False
        better = value < self.best - self.min_delta if self.direction == "min" else value > self.best + self.min_delta
        if better or self.best_epoch is None:
            self.best, self.best_epoch, self.wait = value, record.epoch, 0
            return True
        self.wait += 1
        return False

    def describe(self) -> str:
        return f"{self.monitor} did not improve for {self.patience} epochs after epoch {self.best_epoch}"

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.wait >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    model.eval()
    return torch.cat([model(as_input(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


@torch.inference_mode()
def _chunk_logits(model: nn.Module, chunks: Iterator[torch.Tensor], bf16: bool = False) -> torch.Tensor:
    model.eval()
    out = []
    for chunk in chunks:
        with torch.autocast(chunk.device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(as_input(chunk)).float())
    return torch.cat(out)


def _evaluate(model: nn.Module, x: _Resident | _Mapped, y: torch.Tensor, bf16: bool = False) -> tuple[float, float]:
    """Per-epoch validation loss and accuracy; under bf16 autocast when training is (2–3× faster on
    a CPU with AMX; the evaluation stage and the exported model measure the final weights in fp32)."""
    logits = _chunk_logits(model, x.chunks(EVAL_BATCH), bf16)
    loss = nn.functional.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    return loss, acc


class StandardisedMSE(nn.Module):
    """Mean squared error on the target standardised by the training split's std: 1.0 is the loss of
    predicting the training mean, whatever the target's units. Takes (B, 1) values and (B,) targets."""

    def __init__(self, y_std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", 1.0 / y_std.detach().float() ** 2)

    def forward(self, values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(values.float().reshape(-1), y) * self.scale


def _evaluate_regression(model: nn.Module, x: _Resident | _Mapped, y: torch.Tensor,
                         loss_fn: StandardisedMSE) -> tuple[float, float, float]:
    """Validation loss (standardised MSE), R² and MAE (in the target's units)."""
    values = _chunk_logits(model, x.chunks(EVAL_BATCH)).float().reshape(-1)
    loss = loss_fn(values, y).item()
    variance = torch.var(y, unbiased=False).item()
    mse = nn.functional.mse_loss(values, y).item()
    r2 = 1.0 - mse / variance if variance > 0 else math.nan
    return loss, r2, (values - y).abs().mean().item()


def _targets(data: Dataset, device: torch.device) -> torch.Tensor:
    """Class indices (int64), or a regression's values (float32)."""
    y = torch.from_numpy(np.asarray(data.y))
    return (y.float() if data.is_regression else y.long()).to(device)


def wrap_body(body: nn.Module, mean: torch.Tensor, std: torch.Tensor, train: Dataset,
              preprocess: nn.Module | None = None) -> Classifier:
    """The body with input normalisation; a regression's also with the training target's mean and std."""
    if not train.is_regression:
        return Classifier(body, mean, std, preprocess)
    y = np.asarray(train.y, dtype=np.float64)
    return Regressor(body, mean, std, preprocess, y_mean=float(y.mean()), y_std=float(y.std()))


def class_weights(train: Dataset, spec: TrainSpec, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Per-class loss weights for ``class_weight: balanced``: n / (classes × count), as scikit-learn's
    'balanced' (a class absent from training gets 1; it never appears as a target). None: unweighted."""
    if spec.class_weight is None:
        return None
    counts = np.bincount(train.y, minlength=len(train.classes)).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    weights = np.where(counts > 0, len(train.y) / (present * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32, device=device)


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
    regression = train.is_regression

    # Resident tensors on the device, or memory-mapped splits read a batch at a time.
    x_train, y_train = _resident_or_mapped(train, dev), _targets(train, dev)
    x_val, y_val = _resident_or_mapped(val, dev), _targets(val, dev)
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
    weights = class_weights(train, spec, dev)
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=spec.label_smoothing)
    # With class weights, the history records the unweighted loss, so the training loss compares
    # with the (unweighted) validation loss as it does without them, for the diagnosis too.
    record_fn = loss_fn if weights is None else nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)
    if regression:  # MSE on the standardised target (label smoothing and class weights are refused by the config)
        loss_fn = record_fn = StandardisedMSE(model.y_std).to(dev)
    gen = torch.Generator(device=dev).manual_seed(spec.seed)
    es_spec = spec.early_stopping
    stopper = _EarlyStopping(
        es_spec.monitor if es_spec else "val_loss",
        es_spec.direction if es_spec else "min",
        es_spec.patience if es_spec else None,
        es_spec.min_delta if es_spec else 0.0,
    )
    records: list[EpochRecord] = []
    best_state: dict[str, torch.Tensor] | None = None
    config_hash = _config_hash(spec, augment, n)

    if resume and checkpoint is not None and checkpoint.exists():
        tensors, meta = load_tensors(checkpoint)
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

    initial_loss = 1.0 if regression else math.log(num_classes)
    reference = "predicting the training mean" if regression else "a uniform guess"
    stop_reason: StopReason = "completed"
    stop_detail = ""
    for epoch in range(len(records) + 1, spec.epochs + 1):
        if records and stopper.should_stop:  # resumed from the epoch that triggered early stopping
            stop_reason, stop_detail = "early_stopping", stopper.describe()
            break
        started = time.perf_counter()
        events.epoch_start(epoch, spec.epochs, steps)
        model.train()
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        perm = torch.randperm(n, generator=gen, device=dev)
        diverged = False
        batches = x_train.batches(perm, batch_size, steps)
        for step in range(steps):
            idx = perm[step * batch_size : (step + 1) * batch_size]
            xb = aug.apply(augment, as_input(next(batches)), gen)
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
            loss_sum += (loss.detach() if weights is None else record_fn(logits.detach(), yb)) * len(idx)
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
            val_loss, val_r2, val_mae = (_evaluate_regression(model, x_val, y_val, loss_fn) if not diverged
                                         else (math.nan, math.nan, math.nan))
            val_acc = math.nan
        else:
            val_loss, val_acc = _evaluate(model, x_val, y_val, bf16) if not diverged else (math.nan, math.nan)
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
    save_tensors(path, tensors, meta)
