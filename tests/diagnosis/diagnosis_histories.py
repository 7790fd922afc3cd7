"""Synthetic training runs shaped like real CIFAR-10 curves, for the diagnosis tests.

Each builder takes a seed: validation accuracy gets ±0.8 points of noise an epoch and validation
loss ±3%, as real 5,000-sample validation splits show; train loss is an epoch mean with
augmentation on, so it starts above val loss and is smooth (±0.5%).
"""

from __future__ import annotations

import math

import numpy as np

from practica.training.history import HISTORY, EpochRecord, History

VAL_ACC_NOISE = 0.008
VAL_LOSS_NOISE = 0.03
TRAIN_NOISE = 0.005


def history(
    train_loss, train_acc, val_loss, val_acc, *, lr=1e-3, stop_reason="completed", best_epoch=None,
    max_epochs=None, monitor="val_loss", stop_detail="",
) -> History:
    """A History from per-epoch sequences (``lr`` a number or a sequence)."""
    n = len(train_loss)
    lrs = [lr] * n if isinstance(lr, (int, float)) else list(lr)
    records = tuple(
        EpochRecord(e + 1, float(train_loss[e]), float(val_loss[e]), float(lrs[e]), 10.0,
                    {"train_accuracy": float(train_acc[e]), "val_accuracy": float(val_acc[e])})
        for e in range(n)
    )
    return History(records, stop_reason, best_epoch, monitor, max_epochs if max_epochs is not None else n, stop_detail)


def _noisy(rng, clean_val_acc, clean_val_loss, clean_train_loss):
    val_acc = np.clip(clean_val_acc + rng.normal(0, VAL_ACC_NOISE, len(clean_val_acc)), 0, 1)
    val_loss = clean_val_loss * (1 + rng.normal(0, VAL_LOSS_NOISE, len(clean_val_loss)))
    train_loss = clean_train_loss * (1 + rng.normal(0, TRAIN_NOISE, len(clean_train_loss)))
    return val_acc, val_loss, train_loss


def cosine(n: int, peak: float = 0.1) -> list[float]:
    return [peak * 0.5 * (1 + math.cos(math.pi * e / n)) for e in range(1, n + 1)]


def healthy_cosine(seed: int = 0, n: int = 30) -> History:
    """A resnet under a cosine schedule: val accuracy 45% → 88%, val loss falling to the end,
    a train–val gap from -3 points (augmentation) to +4."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 7)
    val_acc_clean = 0.45 + 0.43 * p
    val_loss_clean = 1.55 - 1.17 * p
    train_loss_clean = 1.75 * np.exp(-t / 9) + 0.2
    train_acc = val_acc_clean - 0.03 + 0.07 * t / n
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=cosine(n))


def healthy_constant(seed: int = 0, n: int = 25) -> History:
    """A CNN with augmentation under a constant learning rate, near convergence but still fitting:
    val accuracy creeping up ~0.1 points an epoch at the end, train loss falling ~1.5% an epoch."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 5)
    val_acc_clean = 0.40 + 0.38 * p + 0.001 * t
    val_loss_clean = 1.65 - 0.95 * p - 0.002 * t
    train_loss_clean = 1.2 * np.exp(-t / 5) + 0.75 * np.exp(-t / 60)
    train_acc = val_acc_clean - 0.02 + 0.04 * t / n
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=1e-3)


def overfit(seed: int = 0, n: int = 20, low_epoch: int = 7) -> History:
    """A CNN without augmentation: val loss bottoms at ``low_epoch`` near 0.82 and climbs back,
    train loss falls 1.6 → 0.2, train accuracy races to 95% while val accuracy stalls near 72%."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    d = t - low_epoch
    val_loss_clean = np.where(d < 0, 0.82 + 0.012 * d**2 + 0.02 * np.abs(d), 0.82 + 0.022 * d)
    val_acc_clean = np.minimum(0.45 + 0.27 * (1 - np.exp(-t / 3)), 0.72) - 0.002 * np.maximum(d, 0)
    train_loss_clean = 1.45 * np.exp(-t / 6) + 0.15
    train_acc = np.minimum(0.47 + 0.5 * (1 - np.exp(-t / 7)), 0.99)
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=1e-3)


def truncate(h: History, epochs: int, **changes) -> History:
    """The first ``epochs`` epochs of ``h``, with History fields replaced by ``changes``."""
    d = HISTORY.dump_python(h)
    d["epochs"] = d["epochs"][:epochs]
    d.update(changes)
    return HISTORY.validate_python(d)


def early_stopped_overfit(seed: int = 0) -> History:
    """The overfit run caught by early stopping (patience 5): stopped at 12, best epoch 7 kept."""
    h = overfit(seed)
    best = 1 + int(np.argmin(h.column("val_loss")[:12]))
    return truncate(h, 12, stop_reason="early_stopping", best_epoch=best, max_epochs=30)


def never_learned(seed: int = 0, n: int = 10) -> History:
    """Stuck at a uniform guess: loss 2.30 throughout, accuracy 10% (a constant prediction)."""
    rng = np.random.default_rng(seed)
    loss = 2.303 + rng.normal(0, 0.002, n)
    acc = 0.1 + rng.normal(0, 0.003, n)
    return history(loss + 0.001, acc, loss, acc, lr=1e-1)


def underfit(seed: int = 0, n: int = 20) -> History:
    """A small dense network on pixels: train and val accuracy stall near 41% and 40%."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 3)
    val_acc_clean = 0.30 + 0.10 * p
    train_acc = 0.30 + 0.11 * p
    val_loss_clean = 1.95 - 0.25 * p
    train_loss_clean = 1.98 - 0.30 * p
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=1e-3)


def plateau(seed: int = 0, n: int = 20) -> History:
    """A CNN at too high a constant learning rate: learns to ~74% by epoch 8, then nothing moves."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = np.minimum(1 - np.exp(-t / 2.5), 1 - math.exp(-8 / 2.5))
    val_acc_clean = 0.35 + 0.40 * p
    val_loss_clean = 1.8 - 1.05 * p
    train_loss_clean = 2.0 - 1.25 * p
    train_acc = 0.33 + 0.42 * p
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=5e-2)


def undertrained(seed: int = 0, n: int = 15) -> History:
    """A CNN cut off by a 15-epoch budget while val accuracy still climbs ~0.8 points an epoch."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 12)
    val_acc_clean = 0.38 + 0.45 * p
    val_loss_clean = 1.75 - 0.95 * p
    train_loss_clean = 1.85 - 1.05 * p
    train_acc = val_acc_clean - 0.02
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=1e-3)


def nan_divergence() -> History:
    """Learning rate far too high: the loss climbs for four epochs, then turns NaN and training stops."""
    return history(
        [2.05, 1.92, 2.6, 4.7, math.nan], [0.24, 0.29, 0.21, 0.12, 0.10],
        [1.88, 1.95, 3.1, 6.2, math.nan], [0.30, 0.27, 0.18, 0.10, 0.10],
        lr=0.5, stop_reason="diverged", max_epochs=30, stop_detail="non-finite train loss at step 1790",
    )


def loss_explosion() -> History:
    """No NaN, but train loss climbs far past a uniform guess (2.30): 1.8 → 9.7 by epoch 8."""
    train_loss = [1.82, 1.55, 1.48, 2.4, 3.9, 5.6, 7.9, 9.7]
    val_loss = [1.61, 1.47, 1.52, 3.1, 4.8, 6.9, 9.5, 11.8]
    acc = [0.34, 0.44, 0.47, 0.22, 0.14, 0.11, 0.10, 0.10]
    return history(train_loss, acc, val_loss, acc, lr=0.3, max_epochs=8)


def collapse(seed: int = 0) -> History:
    """Learned to 70%, then the learning rate knocked it to a constant prediction (loss 2.30)."""
    rng = np.random.default_rng(seed)
    train_loss = [1.65, 1.20, 0.98, 0.86, 0.80, 2.30, 2.31, 2.30, 2.30, 2.30]
    train_acc = [0.40, 0.57, 0.65, 0.69, 0.71, 0.12, 0.10, 0.10, 0.10, 0.10]
    val_loss = [v * (1 + rng.normal(0, 0.01)) for v in [1.40, 1.10, 0.95, 0.88, 0.85, 2.31, 2.30, 2.30, 2.31, 2.30]]
    return history(train_loss, train_acc, val_loss, [a + 0.01 for a in train_acc], lr=0.2)


def onecycle(n: int, peak: float = 0.1, rise: float = 0.25) -> list[float]:
    """Per-epoch learning rate of a one-cycle schedule: linear up to ``peak``, cosine down to ~0."""
    up = max(1, round(rise * n))
    return [
        peak * e / up if e <= up else peak * 0.5 * (1 + math.cos(math.pi * (e - up) / (n - up))) + 1e-6
        for e in range(1, n + 1)
    ]


def healthy_onecycle(seed: int = 0, n: int = 20) -> History:
    """A resnet under one-cycle: the annealing in the last epochs adds ~0.6 points an epoch
    (a known effect of the schedule, not a run cut short), ending near 90%."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 5)
    anneal = 0.035 * np.clip((t - (n - 6)) / 6, 0, 1)
    val_acc_clean = 0.42 + 0.44 * p + anneal
    val_loss_clean = 1.6 - 1.05 * p - 0.12 * anneal / 0.035
    train_loss_clean = 1.6 * np.exp(-t / 5) + 0.32 - 0.1 * anneal / 0.035
    train_acc = val_acc_clean - 0.03 + 0.06 * t / n
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=onecycle(n))


def healthy_early_stopped(seed: int = 0, n: int = 30) -> History:
    """A well-regularized CNN whose val loss flattens from epoch ~16 while train loss creeps down
    ~1.2% an epoch; early stopping (patience 5) ends it where the noisy val loss last improved."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    p = 1 - np.exp(-t / 4)
    val_acc_clean = 0.42 + 0.38 * p
    val_loss_clean = 1.6 - 1.0 * p
    train_loss_clean = 1.3 * np.exp(-t / 4) + 0.7 * np.exp(-t / 80)
    train_acc = val_acc_clean - 0.02 + 0.04 * t / n
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    best, stop = 0, n
    for e in range(n):  # replay early stopping on val loss, patience 5
        if val_loss[e] < val_loss[best]:
            best = e
        elif e - best >= 5:
            stop = e + 1
            break
    h = history(train_loss, train_acc, val_loss, val_acc, lr=1e-3, max_epochs=n)
    if stop == n:
        return truncate(h, n, best_epoch=n)
    return truncate(h, stop, stop_reason="early_stopping", best_epoch=best + 1)


def undertrained_onecycle(seed: int = 0, n: int = 6) -> History:
    """A 6-epoch one-cycle run: even as the schedule anneals, val accuracy climbs ~4 points an epoch."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    val_acc_clean = 0.35 + 0.045 * t
    val_loss_clean = 1.8 - 0.12 * t
    train_loss_clean = 1.95 - 0.13 * t
    train_acc = val_acc_clean - 0.02
    val_acc, val_loss, train_loss = _noisy(rng, val_acc_clean, val_loss_clean, train_loss_clean)
    return history(train_loss, train_acc, val_loss, val_acc, lr=onecycle(n))
