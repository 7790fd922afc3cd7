"""Overfitting and underfitting, read from a run's curves (and, for models without epochs,
from one train and one val accuracy: see ``fit_checks``)."""

from __future__ import annotations

import math

from practica.diagnosis.advice import fit_advice
from practica.diagnosis.check import Check
from practica.diagnosis.context import DiagnosisContext
from practica.diagnosis.curves import Curves, Window, argbest, centred
from practica.diagnosis.records import Finding
from practica.diagnosis.text import change, loss, pct, point_gap, points, subject
from practica.diagnosis.thresholds import (
    ACC_HELD,
    FIT_OVERFIT_GAP,
    NEAR_CHANCE_LIFT,
    NEVER_LEARNED_LOSS_DROP,
    NEVER_LEARNED_MIN_EPOCHS,
    NEVER_LEARNED_UNIFORM_SHARE,
    OVERFIT_GAP,
    OVERFIT_GAP_GROWTH,
    OVERFIT_GAP_MIN_EPOCHS,
    OVERFIT_MIN_EPOCHS_AFTER_MIN,
    OVERFIT_TRAIN_DROP,
    OVERFIT_VAL_RISE,
    OVERFIT_VAL_RISE_EARLY_STOP,
    SMALL_GAP,
    SMOOTH_EPOCHS,
    UNDERFIT_HEADROOM_SHARE,
    UNDERFIT_MIN_SHORTFALL,
)
from practica.training.history import History

NEVER_LEARNED_SIZE = 1.0  # a model that never learned forgoes all the accuracy there is: it outranks any gap

REGULARIZE = "dropout or weight decay (e.g. 5e-4), more data, or a smaller model"
AUGMENT = "more augmentation (random crops, flips), "  # images only: a table's rows have no crop or flip


def overfit_advice(*, stopped_early: bool, images: bool) -> str:
    """A network's cure for overfitting; augmentation is named only for images."""
    regularize = (AUGMENT if images else "") + REGULARIZE
    if stopped_early:
        return f"early stopping already keeps the best epoch; to gain beyond it, regularize: {regularize}"
    return f"regularize: {regularize}; and early stopping on val loss (patience 5) so the best epoch is the one kept"


OVERFIT_ADVICE_NO_STOP = overfit_advice(stopped_early=False, images=True)
OVERFIT_ADVICE_STOPPED = overfit_advice(stopped_early=True, images=True)
NEVER_LEARNED_ADVICE = (
    "check the pipeline first: show a batch of inputs with their labels, and check that the loss at step 0 "
    "is close to ln(classes); then try the learning rate 10× higher and 10× lower, and switch off heavy "
    "regularization until the model learns"
)
UNDERFIT_ADVICE = (
    "more capacity (wider or deeper layers, or an architecture suited to the data, e.g. convolutions for "
    "images), a higher learning rate or a schedule, longer training, and less regularization (lower dropout "
    "and weight decay, lighter augmentation)"
)
OVER_REGULARIZED_ADVICE = (
    "train accuracy sits below val accuracy, so regularization is holding the fit back: ease it first "
    "(lower dropout and weight decay, lighter augmentation); then " + UNDERFIT_ADVICE
)


# ------------------------------------------------------------------ overfitting, from curves


def check_overfitting(c: Curves, history: History, images: bool = True) -> Check | None:
    """Val loss past its minimum and rising while train loss falls, or a large, growing accuracy gap."""
    rise = val_loss_rise(c, history)
    gap = _gap_growth(c)
    found = rise or gap
    if found is None:
        return None
    parts = [p[0] for p in (rise, gap) if p is not None]
    headline = found[1]
    evidence = "; ".join([*parts, _kept_model(c, history)])
    advice = overfit_advice(stopped_early=history.stop_reason == "early_stopping", images=images)
    tail = c.tail()
    return Check(Finding("overfitting", evidence, advice), headline, size=max(0.0, tail.mean(c.gap)))


def val_loss_rise(c: Curves, history: History) -> tuple[str, str] | None:
    # The low is located at the raw minimum (the epoch a reader finds on the plot and the one
    # early stopping keeps) but measured as the centred mean around it, like the end it is
    # compared with, so one lucky epoch does not make the rise.
    low_i = argbest(c.val_loss, lower=True)
    if low_i is None or c.n - 1 - low_i < OVERFIT_MIN_EPOCHS_AFTER_MIN:
        return None
    epoch, around = low_i + 1, Window.around(low_i + 1, c.n)
    tail = c.tail(min(SMOOTH_EPOCHS, c.n - 1 - low_i))
    low, end = around.mean(c.val_loss), tail.mean(c.val_loss)
    train_at_low, train_end = around.mean(c.train_loss), tail.mean(c.train_loss)
    early = history.stop_reason == "early_stopping"
    needed = OVERFIT_VAL_RISE_EARLY_STOP if early else OVERFIT_VAL_RISE
    if not (low > 0 and end / low - 1 >= needed and 1 - train_end / train_at_low >= OVERFIT_TRAIN_DROP):
        return None
    text = (
        f"val loss lowest {loss(c.val_loss[low_i])} at epoch {epoch} ({loss(low)} over {around}), "
        f"then {loss(end)} over {tail} ({change(end, low)}) while train loss fell "
        f"{loss(train_at_low)} → {loss(train_end)}"
    )
    acc_at_low, acc_end = around.mean(c.val_acc), tail.mean(c.val_acc)
    if acc_end >= acc_at_low - ACC_HELD:
        text += (
            f"; val accuracy held ({pct(acc_at_low)} → {pct(acc_end)}): the model grows over-confident "
            "before it grows wrong"
        )
    return text, f"val loss rose {100 * (end / low - 1):.0f}% after epoch {epoch} while train loss kept falling"


def _gap_growth(c: Curves) -> tuple[str, str] | None:
    if c.n < OVERFIT_GAP_MIN_EPOCHS:
        return None
    width = min(SMOOTH_EPOCHS, c.n // 2)
    tail = c.tail(width)
    mid = Window(c.n // 2 - width + 1, c.n // 2)
    gap_end, gap_mid = tail.mean(c.gap), mid.mean(c.gap)
    if not (gap_end >= OVERFIT_GAP and gap_end - gap_mid >= OVERFIT_GAP_GROWTH):
        return None
    return (
        f"train accuracy {pct(tail.mean(c.train_acc))} against val accuracy {pct(tail.mean(c.val_acc))} "
        f"over {tail}: a {point_gap(gap_end)} gap, up from {points(gap_mid)} over {mid}",
        f"a {point_gap(gap_end)} train–val accuracy gap, up from {points(gap_mid)}",
    )


def _kept_model(c: Curves, history: History) -> str:
    """Which epoch's weights the run keeps, and what they score."""
    best = history.best_epoch
    if history.stop_reason == "early_stopping":
        if best is None:
            monitor = c.val_acc if history.monitor == "val_accuracy" else c.val_loss
            found = argbest(monitor, lower=history.monitor != "val_accuracy")
            best = None if found is None else found + 1
        at = f"the one from epoch {best} ({_scores(c, best)})" if best else "the best epoch's"
        return f"early stopping caught it: the run stopped at epoch {c.n} and the model kept is {at}"
    if best is not None and 1 <= best < c.n:
        return f"the model kept is the one from epoch {best} ({_scores(c, best)})"
    low = argbest(c.val_loss, lower=True)
    if low is None or low + 1 == c.n:
        return f"nothing stopped the run: the model kept is epoch {c.n}'s"
    return (
        f"nothing stopped the run: the model kept is epoch {c.n}'s ({_scores(c, c.n)}) "
        f"against {_scores(c, low + 1)} at epoch {low + 1}"
    )


def _scores(c: Curves, epoch: int) -> str:
    return f"val loss {loss(c.val_loss[epoch - 1])}, val accuracy {pct(c.val_acc[epoch - 1])}"


# ------------------------------------------------------------------ underfitting, from curves


def check_underfitting(c: Curves, context: DiagnosisContext) -> Check | None:
    """Never learned (at chance, or train loss barely moved), or a fit far below the reference."""
    tail = c.tail()
    train_acc, val_acc = tail.mean(c.train_acc), tail.mean(c.val_acc)
    never = _never_learned(c, context)
    far = shortfall(train_acc, val_acc, context, span=f" over {tail}")
    if never is not None:
        # The shortfall's own train and val figures would repeat the ones just given: only how far short.
        evidence = never[0] if far is None else (
            f"{never[0]}; {points(far[2])} short of the {pct(context.reference_accuracy or 0.0)} of "
            f"{context.reference_label}")
        finding = Finding("underfitting", evidence, NEVER_LEARNED_ADVICE)
        return Check(finding, never[1], NEVER_LEARNED_SIZE, never_learned=True)
    if far is None:
        return None
    advice = OVER_REGULARIZED_ADVICE if val_acc - train_acc >= SMALL_GAP else UNDERFIT_ADVICE
    return Check(Finding("underfitting", far[0], advice), far[1], size=far[2])


def _never_learned(c: Curves, context: DiagnosisContext) -> tuple[str, str] | None:
    parts: list[str] = []
    headline = ""
    if c.n >= NEVER_LEARNED_MIN_EPOCHS:
        tail = c.tail(min(SMOOTH_EPOCHS, c.n - 1))
        first, end = c.train_loss[0], tail.mean(c.train_loss)
        if 1 - end / first < NEVER_LEARNED_LOSS_DROP and end >= NEVER_LEARNED_UNIFORM_SHARE * context.uniform_loss:
            parts.append(
                f"train loss barely moved: {loss(first)} at epoch 1, {loss(end)} over {tail} ({change(end, first)}), "
                f"still near the {loss(context.uniform_loss)} of a uniform guess over {context.n_classes} classes"
            )
            headline = f"never learned (train loss {loss(first)} → {loss(end)})"
    # Decided on the 3-epoch means (one lucky epoch does not count as learning), but told with the best
    # single epoch: the figure a table of the epochs, or of the kept model, shows beside this sentence.
    smooth_val = centred(c.val_acc)
    best_i = argbest(smooth_val, lower=False)
    peak_i = argbest(c.val_acc, lower=False)
    tail = c.tail()
    train_end = tail.mean(c.train_acc)
    if best_i is not None and peak_i is not None and math.isfinite(train_end):
        best_val, peak = smooth_val[best_i], c.val_acc[peak_i]
        if context.lift(max(best_val, train_end)) < NEAR_CHANCE_LIFT:
            parts.append(
                f"val accuracy never rose above {pct(peak)} (epoch {peak_i + 1}) and train accuracy averaged "
                f"{pct(train_end)} over {tail}, where chance is {pct(context.chance_accuracy)}"
            )
            headline = f"never learned (val accuracy at most {pct(peak)}, chance {pct(context.chance_accuracy)})"
    return ("; ".join(parts), headline) if parts else None


def shortfall(
    train_acc: float, val_acc: float, context: DiagnosisContext, *, span: str = ""
) -> tuple[str, str, float] | None:
    """Evidence, headline and size when the better of train and val accuracy is far below the reference."""
    ref = context.reference_accuracy
    if ref is None or not (math.isfinite(train_acc) and math.isfinite(val_acc)):
        return None
    short = ref - max(train_acc, val_acc)
    if short < max(UNDERFIT_MIN_SHORTFALL, UNDERFIT_HEADROOM_SHARE * (ref - context.chance_accuracy)):
        return None
    gap = train_acc - val_acc
    if gap <= -SMALL_GAP:
        gap_text = f"and train accuracy {points(-gap)} below val accuracy"
    elif gap < SMALL_GAP:
        gap_text = f"with train and val accuracy only {points(abs(gap))} apart"
    else:
        gap_text = f"with a train–val gap of {points(gap)}"
    return (
        f"train accuracy {pct(train_acc)} (val {pct(val_acc)}){span} where {subject(context.reference_label)} "
        f"reaches {pct(ref)}: {points(short)} short, {gap_text}",
        f"train accuracy {pct(train_acc)} where {subject(context.reference_label)} reaches {pct(ref)}",
        short,
    )


# ------------------------------------------------------------------ models without epochs


def fit_checks(train_acc: float, val_acc: float, context: DiagnosisContext, who: str,
               estimator: str | None = None) -> list[Check]:
    """Overfitting from the train-val gap and underfitting from the shortfall, for one fitted model;
    the advice is for ``estimator``'s kind of model (a ``model.sklearn`` name)."""
    checks: list[Check] = []
    gap = train_acc - val_acc
    if gap >= FIT_OVERFIT_GAP:
        evidence = (
            f"train accuracy {pct(train_acc)} against val accuracy {pct(val_acc)}: a {point_gap(gap)} gap; "
            f"{who} fits the training set far better than it generalizes"
        )
        headline = f"train accuracy {pct(train_acc)} against val accuracy {pct(val_acc)}"
        checks.append(Check(Finding("overfitting", evidence, fit_advice("overfitting", estimator)), headline, gap))
    if context.lift(max(train_acc, val_acc)) < NEAR_CHANCE_LIFT:
        evidence = (
            f"train accuracy {pct(train_acc)} and val accuracy {pct(val_acc)}, where chance is "
            f"{pct(context.chance_accuracy)}: {who} learned nothing"
        )
        headline = f"never learned (val accuracy {pct(val_acc)}, chance {pct(context.chance_accuracy)})"
        finding = Finding("underfitting", evidence, NEVER_LEARNED_ADVICE)
        checks.append(Check(finding, headline, NEVER_LEARNED_SIZE, never_learned=True))
    else:
        far = shortfall(train_acc, val_acc, context)
        if far is not None:
            finding = Finding("underfitting", far[0], fit_advice("underfitting", estimator))
            checks.append(Check(finding, far[1], far[2]))
    return checks
