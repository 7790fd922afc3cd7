"""Neutral numbers about a run, and the finding for a run none of the rules flagged."""

from __future__ import annotations

import math

from practica.diagnosis.check import Check
from practica.diagnosis.curves import Curves, argbest
from practica.diagnosis.records import Finding
from practica.diagnosis.text import NOTHING_WRONG, loss, pct, points, rate
from practica.diagnosis.thresholds import SPIKE_MULTIPLE
from practica.training.history import History

HEALTHY_ADVICE = (
    "nothing in the curves to fix; to go further, compare a step up in capacity or a longer schedule "
    "against this run on the validation metric"
)
_ENDINGS = {"completed": "completed", "early_stopping": "stopped early", "diverged": "stopped as diverged"}


def run_facts(c: Curves, history: History) -> tuple[str, ...]:
    """Epochs run of the budget, the best epoch and its scores, the kept epoch, the schedule."""
    ending = _ENDINGS.get(history.stop_reason, history.stop_reason)
    detail = f": {history.stop_detail}" if history.stop_detail else ""
    budget = f" of {history.max_epochs}" if history.max_epochs else ""
    facts = [f"epochs run: {c.n}{budget} ({ending}{detail})"]
    facts.append(_best(c, history))
    if history.best_epoch is not None:
        facts.append(f"model kept: epoch {history.best_epoch}")
    # Not here: the final train–val gap (the findings state it where it matters, and the report shows
    # the kept model's) and the training time (the run's one figure is Trained.train_seconds).
    first_lr, last_lr = c.lr[0], c.lr[-1]
    schedule = rate(first_lr) if first_lr == last_lr else f"{rate(first_lr)} → {rate(last_lr)}"
    facts.append(f"learning rate: {schedule}")
    spike = _spike(c)
    if spike:
        facts.append(spike)
    if history.validation_note:
        facts.append(history.validation_note)
    return tuple(facts)


def healthy(c: Curves, history: History) -> Check:
    """The finding for a run no rule flagged: still the numbers a reader wants."""
    best = argbest(c.val_acc, lower=False)
    tail = c.tail()
    gap = points(tail.mean(c.gap))
    if best is None:
        at_best = "no finite val accuracy"
    else:
        at_best = f"best val accuracy {pct(c.val_acc[best])} at epoch {best + 1} of {c.n}"
    evidence = f"{NOTHING_WRONG}: {at_best}; final train–val accuracy gap {gap} over {tail}"
    return Check(Finding("healthy", evidence, HEALTHY_ADVICE), f"{at_best}, train–val gap {gap}")


def _best(c: Curves, history: History) -> str:
    by_acc = history.monitor == "val_accuracy"
    col = c.val_acc if by_acc else c.val_loss
    i = argbest(col, lower=not by_acc)
    name = "val accuracy" if by_acc else "val loss"
    if i is None:
        return f"best {name}: none, no epoch recorded a finite one"
    value = pct(col[i]) if by_acc else loss(col[i])
    other = f"val loss {loss(c.val_loss[i])}" if by_acc else f"val accuracy {pct(c.val_acc[i])}"
    return f"best {name}: {value} at epoch {i + 1} ({other})"


def _spike(c: Curves) -> str | None:
    """The first epoch whose train loss jumped SPIKE_MULTIPLE× the previous one and later came back."""
    t = c.train_loss
    for i in range(1, c.n - 1):
        later = [v for v in t[i + 1 :] if math.isfinite(v)]
        if t[i - 1] > 0 and t[i] >= SPIKE_MULTIPLE * t[i - 1] and later and min(later) < SPIKE_MULTIPLE * t[i - 1]:
            return f"train loss spiked at epoch {i + 1} ({loss(t[i - 1])} → {loss(t[i])}) and came back down"
    return None
