"""Diverged: the run broke. A non-finite loss, or a training loss that blew up and stayed up.

Train loss is read at single epochs here: each is already the mean over all of that epoch's
batches, the smoothest number a run records, and a blow-up in the last epoch is real.
"""

from __future__ import annotations

import math

from practica.diagnosis.check import Check
from practica.diagnosis.context import DiagnosisContext
from practica.diagnosis.curves import Curves, argbest
from practica.diagnosis.records import Finding
from practica.diagnosis.text import loss, pct
from practica.diagnosis.thresholds import (
    DIVERGE_COLLAPSE_ACC_DROP,
    DIVERGE_COLLAPSE_LOSS_MULTIPLE,
    DIVERGE_START_MULTIPLE,
    DIVERGE_UNIFORM_MULTIPLE,
)
from practica.training.history import History

ADVICE = (
    "lower the learning rate (3-10×), add a warm-up over the first epoch or two and gradient clipping "
    "(max norm 1.0); if it breaks at the same step every time, look for NaN or inf in the inputs"
)


def check_diverged(curves: Curves, history: History, context: DiagnosisContext) -> Check | None:
    found = non_finite(curves) or _blow_up(curves, context) or stopped_as_diverged(curves, history)
    if found is None:
        return None
    evidence, headline = found
    return Check(Finding("diverged", evidence, ADVICE), headline)


def non_finite(c: Curves) -> tuple[str, str] | None:
    for i in range(c.n):
        for name, col in (("train loss", c.train_loss), ("val loss", c.val_loss)):
            if math.isfinite(col[i]):
                continue
            word, epoch = loss(col[i]), i + 1
            headline = f"{name} became {word} at epoch {epoch}"
            if i == 0:
                finite_later = any(math.isfinite(v) for v in col)
                tail = "" if finite_later else f", and no finite {name} was recorded in {_epochs(c.n)}"
                return f"{name} was {word} from epoch 1{tail}", f"{name} was {word} from epoch 1"
            before = f"; it was {loss(col[0])} at epoch 1"
            if i > 1:
                before += f" and {loss(col[i - 1])} at epoch {i}"
            return headline + before, headline
    return None


def _blow_up(c: Curves, context: DiagnosisContext) -> tuple[str, str] | None:
    if c.n < 2:
        return None
    first, last, n = c.train_loss[0], c.train_loss[-1], c.n
    uniform = context.uniform_loss
    if last >= DIVERGE_UNIFORM_MULTIPLE * uniform:
        return (
            f"train loss {loss(last)} at epoch {n}, {last / uniform:.1f}× the {loss(uniform)} of a uniform "
            f"guess over {context.n_classes} classes (it was {loss(first)} at epoch 1)",
            f"train loss {loss(last)} at epoch {n}, {last / uniform:.1f}× that of a uniform guess",
        )
    if last >= DIVERGE_START_MULTIPLE * first:
        return (
            f"train loss rose from {loss(first)} at epoch 1 to {loss(last)} at epoch {n} "
            f"({last / first:.1f}× its starting value)",
            f"train loss rose {loss(first)} → {loss(last)} by epoch {n}",
        )
    low, peak = argbest(c.train_loss, lower=True), argbest(c.train_acc, lower=False)
    if low is None or peak is None:
        return None
    acc_drop = c.train_acc[peak] - c.train_acc[-1]
    if last >= DIVERGE_COLLAPSE_LOSS_MULTIPLE * c.train_loss[low] and acc_drop >= DIVERGE_COLLAPSE_ACC_DROP:
        return (
            f"train loss climbed from its low of {loss(c.train_loss[low])} at epoch {low + 1} to {loss(last)} "
            f"at epoch {n} while train accuracy fell from {pct(c.train_acc[peak])} at epoch {peak + 1} "
            f"to {pct(c.train_acc[-1])}",
            f"train accuracy collapsed {pct(c.train_acc[peak])} → {pct(c.train_acc[-1])}",
        )
    return None


def stopped_as_diverged(c: Curves, history: History) -> tuple[str, str] | None:
    if history.stop_reason != "diverged":
        return None
    detail = f" ({history.stop_detail})" if history.stop_detail else ""
    return f"training stopped as diverged at epoch {c.n}{detail}", f"training stopped as diverged at epoch {c.n}"


def _epochs(n: int) -> str:
    return "its only epoch" if n == 1 else f"any of its {n} epochs"
