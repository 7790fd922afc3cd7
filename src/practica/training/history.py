"""The per-epoch record of a training run, as the diagnosis and the report read it."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, TypeAdapter

from practica.tasks import TASKS, get_task
from practica.text import ms

StopReason = Literal["completed", "early_stopping", "diverged"]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run. ``metrics`` holds the task's figures of the epoch, named by its ``epoch_metrics``
    (classification: the training and validation accuracies; regression: the training R², 1 - train loss
    on the standardised target, the validation R² and the validation MAE in the target's units)."""

    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches, with augmentation and dropout active
    val_loss: float
    lr: float  # learning rate at the end of the epoch
    seconds: float  # wall time of the epoch, training and validation
    metrics: Mapping[str, float] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """The figure ``name``: a field (``val_loss``, ``lr``…) or one of the epoch's ``metrics``."""
        if name in self.metrics:
            return self.metrics[name]
        if name in _FIELDS:
            return getattr(self, name)
        raise KeyError(f"an epoch records {', '.join(_FIELDS)} and {', '.join(self.metrics) or 'no metrics'}, "
                       f"not '{name}'")


_FIELDS = tuple(f.name for f in fields(EpochRecord) if f.name != "metrics")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trained in, and why (``training/precision.py``): ``train.precision`` as the suite
    set it, the precision used, and for ``auto`` the evidence: the processor and the time of a
    training step of this network in fp32 and under bf16 autocast (None when nothing was measured)."""

    setting: str  # fp32, bf16 or auto
    used: Literal["fp32", "bf16"]
    processor: str = ""  # e.g. "Intel(R) Xeon(R) Processor (amx_bf16, avx512_bf16)"
    ms_fp32: float | None = None
    ms_bf16: float | None = None
    probe_seconds: float = 0.0  # what measuring cost; 0 when a decision cached for the processor was reused
    reason: str = ""  # why, in words
    # What ms_fp32 and ms_bf16 measure: wall time, or on an oversubscribed machine the process's CPU time per
    # step (all threads together), as the probe decided by it.
    clock: Literal["wall", "cpu"] = "wall"

    def describe(self) -> str:
        """One line for the terminal and the report: 'precision auto → bf16 (41.2 ms/step vs fp32 63.1 ms/step on
        Intel Xeon … (amx_bf16))'."""
        if self.setting != "auto":
            return f"precision {self.used}"
        head = f"precision auto → {self.used}"
        if self.ms_fp32 is None or self.ms_bf16 is None:
            return f"{head} ({self.reason})" if self.reason else head
        first, second = (("bf16", self.ms_bf16), ("fp32", self.ms_fp32)) if self.used == "bf16" else (
            ("fp32", self.ms_fp32), ("bf16", self.ms_bf16))
        cpu = self.clock == "cpu"
        return (f"{head} ({_per_step(first[1], cpu)} vs {second[0]} {_per_step(second[1], cpu)}"
                + (f" on {self.processor}" if self.processor else "") + ")")


def _per_step(milliseconds: float, cpu: bool = False) -> str:
    # text.ms: three significant digits, as every time in the terminal and report
    return f"{ms(milliseconds)}{' CPU' if cpu else ''}/step"


@dataclass(frozen=True)
class History:
    """A training run, epoch by epoch, and how it ended.

    ``best_epoch`` is the epoch whose weights the model keeps (restored by early stopping,
    or the last one). ``monitor`` names the metric early stopping watched.
    """

    epochs: tuple[EpochRecord, ...]
    stop_reason: StopReason = "completed"
    best_epoch: int | None = None
    monitor: str = "val_loss"
    max_epochs: int = 0
    stop_detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    # How per-epoch validation differs from the evaluation, when it does (e.g. one view per image
    # where the model averages several): the report says it beside the curves' numbers.
    validation_note: str = ""
    precision: PrecisionChoice | None = None  # None: a history stored before the choice was recorded

    def column(self, name: str) -> list[float]:
        return [r.value(name) for r in self.epochs]

    @property
    def task(self) -> str:
        """The task the run learned (``practica.tasks``): the one whose ``epoch_metrics`` the records hold (a run
        without epochs: the first task)."""
        held = set(self.epochs[0].metrics) if self.epochs else set()
        return next((t.name for t in TASKS.values() if set(t.epoch_metrics) == held), next(iter(TASKS)))

    def to_csv(self) -> str:
        """One row per epoch, in the columns of the task's ``history_columns``."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=get_task(self.task).history_columns)
        writer.writeheader()
        for r in self.epochs:
            writer.writerow({name: r.value(name) for name in writer.fieldnames})
        return out.getvalue()


def stored_records(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored epoch records as ``EpochRecord``'s fields, those of the old shape (every task's figures a field
    of the record, the other task's NaN or null) turned into the new."""
    if all("metrics" in r for r in stored):
        return stored
    # The old shape knew two tasks: a regression's records held R², a classification's null in its place.
    regression = any(r.get("val_r2") is not None or r.get("train_r2") is not None for r in stored)
    task = get_task("regression" if regression else "classification")
    return [{**{k: _num(r[k]) for k in _FIELDS if k in r},
             "metrics": {k: _num(r.get(k)) for k in task.epoch_metrics}} for r in stored]


def _num(v: float | int | None) -> float | int:
    return math.nan if v is None else v


def _stored_history(d: Any) -> Any:
    """A stored history; one written before the records were task-keyed (the accuracies, NaN or null for a
    regression, and ``train_r2``, ``val_r2``, ``val_mae``, null for a classification, as fields of each
    record) is read into the same shape."""
    if isinstance(d, Mapping) and isinstance(d.get("epochs"), list | tuple):
        return {**d, "epochs": stored_records(list(d["epochs"]))}
    return d


HISTORY = TypeAdapter(Annotated[History, BeforeValidator(_stored_history)])
"""A ``History`` as a dict (``dump_python``) and back (``validate_python``); one stored before the records were
task-keyed reads into the same shape."""
