"""The training loop's callbacks: what happens around the steps, each part on its own with its own state.

A ``Callback`` hears the loop's lifecycle (``on_train_begin``, ``on_epoch_begin``, ``on_step_end``,
``on_epoch_end``, ``on_train_end``), resets its state when training begins, may end the run by setting
``loop.stop``, and gives its state for a checkpoint (``state_dict``: tensors and JSON values, under
its ``name``), so a resumed run continues every callback where it was. Here: progress for a display,
the divergence guard and lookahead; ``early_stopping.EarlyStopping`` and ``checkpoint.Checkpoint``
live beside the state they keep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from practica.config.schema import LookaheadSpec
from practica.models.classifier import Network
from practica.training.history import EpochRecord, PrecisionChoice, StopReason
from practica.training.lookahead import Lookahead
from practica.training.schedules import Schedule

# A run has diverged when its epoch's mean training loss exceeds this multiple of the loss of a
# know-nothing guess (``Objective.guess_loss``: ln(classes) for a classification, 1.0 for a regression,
# the MSE on the standardised target of predicting the training mean): a network that starts there and
# triples it is not learning.
EXPLODE_FACTOR = 3.0
# How often (in steps) the running loss is checked for NaN: often enough to stop a broken run
# within seconds, rarely enough that the host-device sync costs nothing measurable.
NAN_CHECK_EVERY = 25


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    detail: str


@dataclass
class Loop:
    """What the callbacks see of a run: its model and optimisation, the random generator of its batches
    and augmentations, the epochs planned and done, and why it stopped (None: it goes on)."""

    model: Network
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    generator: torch.Generator
    epochs: int
    steps: int  # per epoch
    records: list[EpochRecord] = field(default_factory=list)
    stop: Stop | None = None


class Callback:
    """Hooks named after the loop's events, each doing nothing unless a subclass overrides it."""

    name = ""  # the key of its state in a checkpoint; empty: it keeps none

    def on_train_begin(self, loop: Loop) -> None: ...
    def on_epoch_begin(self, loop: Loop, epoch: int) -> None: ...
    def on_step_end(self, loop: Loop, done: int, loss_sum: torch.Tensor) -> None:
        """``done``: steps taken in this epoch; ``loss_sum``: their recorded loss, summed over samples."""
    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None: ...
    def on_train_end(self, loop: Loop) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Callbacks:
    """Callbacks called in their order: a stop set by an earlier one is seen by the later ones."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_train_begin(self, loop: Loop) -> None:
        for c in self.callbacks:
            c.on_train_begin(loop)

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        for c in self.callbacks:
            c.on_epoch_begin(loop, epoch)

    def on_step_end(self, loop: Loop, done: int, loss_sum: torch.Tensor) -> None:
        for c in self.callbacks:
            c.on_step_end(loop, done, loss_sum)

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        for c in self.callbacks:
            c.on_epoch_end(loop, record)

    def on_train_end(self, loop: Loop) -> None:
        for c in self.callbacks:
            c.on_train_end(loop)


class TrainingEvents(Protocol):
    """What a progress display hears from the loop (see ``practica.cli`` for the rich one). A display may also
    have ``settings(line: str)``, told once as training begins what it computes in: 'precision auto → bf16
    (41 ms/step vs fp32 63 ms/step on …)' (optional, so that displays written before it need not change)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, done: int) -> None: ...
    def epoch_end(self, record: EpochRecord) -> None: ...


class Progress(Callback):
    """Tells a display (``TrainingEvents``) the run's precision as training begins, then each epoch's start,
    each step and each epoch's record."""

    def __init__(self, events: TrainingEvents, precision: PrecisionChoice | None = None) -> None:
        self.events = events
        self.precision = precision

    def on_train_begin(self, loop: Loop) -> None:
        settings = getattr(self.events, "settings", None)
        if settings is not None and self.precision is not None:
            settings(self.precision.describe())

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        self.events.epoch_start(epoch, loop.epochs, loop.steps)

    def on_step_end(self, loop: Loop, done: int, loss_sum: torch.Tensor) -> None:
        self.events.step(done)

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        self.events.epoch_end(record)


class DivergenceGuard(Callback):
    """Stops a run whose training loss became NaN or infinite (checked every ``NAN_CHECK_EVERY`` steps, which
    ends the epoch there, unvalidated) or exceeds ``EXPLODE_FACTOR`` × ``guess_loss``, the loss of ``guess``.
    It keeps no state: a diverged epoch is not checkpointed."""

    def __init__(self, guess_loss: float, guess: str) -> None:
        self.guess_loss, self.guess = guess_loss, guess
        self.epoch = 0

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        self.epoch = epoch

    def on_step_end(self, loop: Loop, done: int, loss_sum: torch.Tensor) -> None:
        if done % NAN_CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
            loop.stop = self._nan(self.epoch)

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        if loop.stop is not None and loop.stop.reason == "diverged":
            return
        loss = record.train_loss
        if not math.isfinite(loss):
            loop.stop = self._nan(record.epoch)
        elif loss > EXPLODE_FACTOR * self.guess_loss:
            loop.stop = Stop("diverged", f"training loss {loss:.3g} in epoch {record.epoch} is over "
                                         f"{EXPLODE_FACTOR:g}× that of {self.guess} ({self.guess_loss:.3g})")

    @staticmethod
    def _nan(epoch: int) -> Stop:
        return Stop("diverged", f"training loss became NaN or infinite in epoch {epoch}")


class LookaheadAveraging(Callback):
    """``train.lookahead``: after each optimizer step, the weights pulled toward their running average
    (``lookahead.Lookahead``), which a checkpoint keeps."""

    name = "lookahead"
    lookahead: Lookahead  # the average of the weights as training begins

    def __init__(self, spec: LookaheadSpec) -> None:
        self.spec = spec

    def on_train_begin(self, loop: Loop) -> None:
        self.lookahead = Lookahead(self.spec, loop.model, loop.steps * loop.epochs)

    def on_step_end(self, loop: Loop, done: int, loss_sum: torch.Tensor) -> None:
        self.lookahead.after_step(loop.model, loop.schedule.step_count)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.lookahead.state())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lookahead.load(state)
