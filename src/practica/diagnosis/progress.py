"""Undertrained (still improving when the budget ran out) and plateau (stalled, train loss too)."""

from __future__ import annotations

import math

from practica.diagnosis.check import Check
from practica.diagnosis.curves import Curves, Window, argbest, centred, slope
from practica.diagnosis.records import Finding
from practica.diagnosis.text import change, loss, pct, points, rate
from practica.diagnosis.thresholds import (
    PLATEAU_ACC_DELTA,
    PLATEAU_EPOCHS,
    PLATEAU_LOSS_DELTA,
    PLATEAU_TRAIN_DROP,
    SMOOTH_EPOCHS,
    UNDERTRAINED_ACC_RATE,
    UNDERTRAINED_ANNEALED_FACTOR,
    UNDERTRAINED_FIT_EPOCHS,
    UNDERTRAINED_LOSS_RATE,
    UNDERTRAINED_STILL_RISING,
)
from practica.training.history import History

PLATEAU_ADVICE = (
    "step the learning rate down (×0.1) or use a schedule that does (cosine, reduce-on-plateau); "
    "if it stalled high, try a different optimizer (Adam ↔ SGD with momentum)"
)


def check_undertrained(c: Curves, history: History) -> Check | None:
    """Val accuracy (or loss) still improving at a real rate, by a straight-line fit through the
    last epochs, when the epoch budget ended. Early stopping and divergence are not a budget
    running out."""
    width = min(SMOOTH_EPOCHS, c.n // 2)
    if history.stop_reason != "completed" or width < 1:
        return None
    fit = c.tail(UNDERTRAINED_FIT_EPOCHS)
    last, prev = c.tail(width), Window(c.n - 2 * width + 1, c.n - width)
    factor = UNDERTRAINED_ANNEALED_FACTOR if c.annealed else 1.0
    acc_prev, acc_last = prev.mean(c.val_acc), last.mean(c.val_acc)
    loss_prev, loss_last = prev.mean(c.val_loss), last.mean(c.val_loss)
    acc_rate = slope(c.val_acc[fit.first - 1 :])
    logs = [math.log(v) if v > 0 else math.nan for v in c.val_loss[fit.first - 1 :]]
    loss_rate = -slope(logs)
    budget = f"the {history.max_epochs or c.n}-epoch budget ended"
    acc_needed, loss_needed = factor * UNDERTRAINED_ACC_RATE, factor * UNDERTRAINED_LOSS_RATE
    if acc_rate >= acc_needed and acc_last - acc_prev >= UNDERTRAINED_STILL_RISING * acc_needed * width:
        evidence = (
            f"val accuracy climbed {100 * acc_rate:.1f} points an epoch over {fit} (straight-line fit) and was "
            f"still rising at the end, {pct(acc_prev)} over {prev} to {pct(acc_last)} over {last}, when {budget}"
        )
        headline = f"val accuracy still rising {100 * acc_rate:.1f} points an epoch when {budget}"
    elif (
        loss_rate >= loss_needed
        and 1 - loss_last / loss_prev >= UNDERTRAINED_STILL_RISING * loss_needed * width
        and acc_rate >= UNDERTRAINED_STILL_RISING * acc_needed
    ):
        evidence = (
            f"val loss fell {100 * loss_rate:.1f}% an epoch over {fit} (straight-line fit) and was still falling "
            f"at the end, {loss(loss_prev)} over {prev} to {loss(loss_last)} over {last}, with val accuracy "
            f"climbing {100 * acc_rate:.1f} points an epoch, when {budget}"
        )
        headline = f"val loss still falling {100 * loss_rate:.0f}% an epoch when {budget}"
    else:
        return None
    if c.annealed:
        evidence += f", even as the learning rate annealed to {rate(c.lr[-1])}"
    advice = f"train longer (about {2 * c.n} epochs)"
    advice += ", stretching the schedule over the new budget" if c.annealed else ""
    advice += "; early stopping on val loss guards the extra epochs"
    return Check(Finding("undertrained", evidence, advice), headline)


def check_plateau(c: Curves, history: History) -> Check | None:
    """The monitored metric has not improved for PLATEAU_EPOCHS epochs and train loss is flat too,
    under a learning rate that has not already annealed (a flat end is then convergence)."""
    if c.n < PLATEAU_EPOCHS + SMOOTH_EPOCHS or c.annealed:
        return None
    by_acc = history.monitor == "val_accuracy"
    values = c.val_acc if by_acc else c.val_loss
    window = c.tail(PLATEAU_EPOCHS)
    earlier = centred(values[: window.first - 1])
    best_i = argbest(earlier, lower=not by_acc)
    recent = window.mean(values)
    if best_i is None or not math.isfinite(recent):
        return None
    best = earlier[best_i]
    if by_acc:
        stalled = recent - best < PLATEAU_ACC_DELTA
        moved = "no better than" if recent <= best else f"only {points(recent - best)} above"
        now, then, needs = pct(recent), pct(best), points(PLATEAU_ACC_DELTA)
    else:
        stalled = best > 0 and (best - recent) / best < PLATEAU_LOSS_DELTA
        moved = "no better than" if recent >= best else f"only {100 * (1 - recent / best):.1f}% below"
        now, then, needs = loss(recent), loss(best), f"{100 * PLATEAU_LOSS_DELTA:.0f}%"
    train_from, train_to = c.train_loss[window.first - 2], c.train_loss[-1]
    if not (stalled and train_from > 0 and 1 - train_to / train_from < PLATEAU_TRAIN_DROP):
        return None
    metric = "val accuracy" if by_acc else "val loss"
    lr_window = c.lr[window.first - 1 :]
    constant = min(lr_window) == max(lr_window)
    lr_text = (
        f"at a constant learning rate of {rate(c.lr[-1])}" if constant
        else f"with the learning rate at {rate(c.lr[-1])}"
    )
    evidence = (
        f"{metric} has not improved over the last {PLATEAU_EPOCHS} epochs: it averaged {now} over {window}, "
        f"{moved} its best 3-epoch mean before them ({then} around epoch {best_i + 1}; progress needs {needs}), "
        f"while train loss moved only {loss(train_from)} → {loss(train_to)} ({change(train_to, train_from)}) "
        f"from epoch {window.first - 1} {lr_text}"
    )
    headline = f"{metric} flat over the last {PLATEAU_EPOCHS} epochs with train loss flat too"
    return Check(Finding("plateau", evidence, PLATEAU_ADVICE), headline)
