"""The diagnosis of a regression: the same reading as a classification's (``rules.py``), in R².

A regression's history records the loss as mean squared error on the target standardised by the
training split (1.0 is the loss of predicting the training mean), and R² per epoch (``val_r2``,
``train_r2``): 0 is no better than predicting the mean, 1 is perfect. The rules, most important first:

1. diverged: a non-finite loss, or a training loss at least ``DIVERGE_UNIFORM_MULTIPLE``× that of
   predicting the mean (or ``DIVERGE_START_MULTIPLE``× its first epoch's);
2. overfitting (val loss past its minimum and rising while train loss falls, read as for a
   classification; or a large, growing train–val R² gap) and underfitting (never learned: R² near 0;
   or R² far below the suite's best), the larger cost first;
3. undertrained: val R² still climbing steeply when the epochs ran out;
4. plateau: read on the val loss, as for a classification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from practica.diagnosis.advice import fit_advice
from practica.diagnosis.check import Check
from practica.diagnosis.curves import (
    Curves,
    Window,
    argbest,
    centred,
    finite_mean,
    slope,
)
from practica.diagnosis.divergence import ADVICE as DIVERGED_ADVICE
from practica.diagnosis.divergence import non_finite, stopped_as_diverged
from practica.diagnosis.fitting import (
    overfit_advice,
    val_loss_rise,
)
from practica.diagnosis.progress import check_plateau
from practica.diagnosis.records import Diagnosis, Finding
from practica.diagnosis.rules import assemble, by_cost
from practica.diagnosis.text import NOTHING_WRONG, NOTHING_WRONG_FIT, loss, rate, subject
from practica.diagnosis.thresholds import (
    DIVERGE_START_MULTIPLE,
    DIVERGE_UNIFORM_MULTIPLE,
    OVERFIT_GAP_MIN_EPOCHS,
    SMOOTH_EPOCHS,
    UNDERTRAINED_FIT_EPOCHS,
)
from practica.training.history import History

# R² at or below which a model learned nothing worth the name: within 0.05 of predicting the mean.
NEVER_LEARNED_R2 = 0.05
# Train R² this far above val R² (and growing by OVERFIT_R2_GROWTH since mid-run) is overfitting.
OVERFIT_R2_GAP = 0.15
OVERFIT_R2_GROWTH = 0.05
FIT_OVERFIT_R2_GAP = 0.15  # for a model fitted without epochs: the gap alone
# Underfitting: the better of train and val R² short of the reference by this much, or this share of it.
UNDERFIT_MIN_R2_SHORTFALL = 0.05
UNDERFIT_R2_SHARE = 0.20
# Undertrained: val R² climbing this much an epoch (straight-line fit over the last half of the run, at
# least UNDERTRAINED_MIN_WINDOW epochs) when the epochs ran out.
UNDERTRAINED_R2_RATE = 0.02
UNDERTRAINED_MIN_WINDOW = 4
NEVER_LEARNED_SIZE = 1.0  # as for a classification: outranks any gap

NEVER_LEARNED_ADVICE = (
    "check the pipeline first: that the target column is the one meant and the features are the model's "
    "inputs (not shuffled apart from their targets); then try the learning rate 10× higher and 10× lower, "
    "and switch off heavy regularization until the model beats the mean"
)
UNDERFIT_ADVICE = (
    "more capacity (wider or deeper layers), a higher learning rate or a schedule, longer training, less "
    "regularization (lower dropout and weight decay); or richer features"
)
UNDERTRAINED_ADVICE = "train longer (more epochs), or a higher learning rate with a decaying schedule"
HEALTHY_ADVICE = (
    "nothing in the curves to fix; to go further, compare a step up in capacity or a longer schedule "
    "against this run on the validation metric"
)


@dataclass(frozen=True)
class RegressionContext:
    """The yardstick for one regression suite: the best validation R² reached in it (its name in
    ``reference_name``), or None when there is none; predicting the training mean is the floor, R² 0."""

    reference_r2: float | None = None
    reference_name: str = ""

    @property
    def reference_label(self) -> str:
        return self.reference_name or "the reference"


def r2(x: float) -> str:
    """An R² to three decimals: 0.4512 -> '0.451'."""
    return f"{x:.3f}" if math.isfinite(x) else "n/a"


@dataclass(frozen=True)
class _Curves(Curves):
    """A regression history's columns: ``Curves`` (its accuracy columns NaN, so the shared rules on
    loss, plateau and schedule read it unchanged) plus R² and MAE; the gap is train minus val R²."""

    train_r2: tuple[float, ...] = ()
    val_r2: tuple[float, ...] = ()
    val_mae: tuple[float, ...] = ()

    @classmethod
    def of(cls, h: History) -> _Curves:
        col = {n: tuple(float(v) for v in h.column(n)) for n in
               ("train_loss", "val_loss", "train_r2", "val_r2", "val_mae", "lr", "seconds")}
        nan = tuple(math.nan for _ in h.epochs)
        return cls(train_loss=col["train_loss"], train_acc=nan, val_loss=col["val_loss"], val_acc=nan,
                   lr=col["lr"], seconds=col["seconds"], train_r2=col["train_r2"], val_r2=col["val_r2"],
                   val_mae=col["val_mae"])

    @property
    def gap(self) -> tuple[float, ...]:
        return tuple(t - v for t, v in zip(self.train_r2, self.val_r2, strict=True))


def diagnose_regression(history: History, context: RegressionContext) -> Diagnosis:
    """The verdict on one regression training run, with every finding that holds, most important first."""
    if not history.epochs:
        raise ValueError("diagnose_regression() needs a history with at least one epoch; got none.")
    c = _Curves.of(history)
    diverged = _diverged(c, history)
    if diverged:
        checks = [diverged]
    else:
        over = _overfitting(c, history)
        under = _underfitting(c, context)
        never = under is not None and under.never_learned
        ordered = by_cost([x for x in (over, under) if x is not None])
        undertrained = None if over or never else _undertrained(c, history)
        if undertrained is not None:
            ordered.insert(0, undertrained)
        plateau = None if never else check_plateau(c, history)  # reads the loss
        checks = [*ordered, *([plateau] if plateau else [])]
    if not checks:
        checks = [_healthy(c)]
    return assemble(checks, _facts(c, history))


def diagnose_regression_fit(
    train_r2: float, val_r2: float, context: RegressionContext, *, model_name: str = "",
    estimator: str | None = None,
) -> Diagnosis:
    """The verdict on a regressor fitted without epochs (scikit-learn), from its train and val R²;
    ``estimator`` (the suite's ``model.sklearn`` name) picks advice that fits the kind of model.

    >>> diagnose_regression_fit(1.0, 0.2, RegressionContext(0.5, "ridge"), model_name="decision tree").verdict
    'overfitting'
    """
    for name, value in (("train_r2", train_r2), ("val_r2", val_r2)):
        if not math.isfinite(value):
            raise ValueError(f"diagnose_regression_fit() needs a finite {name}; got {value!r}")
    who = model_name or "the model"
    checks: list[Check] = []
    gap = train_r2 - val_r2
    if gap >= FIT_OVERFIT_R2_GAP:
        evidence = (f"train R² {r2(train_r2)} against val R² {r2(val_r2)}: a gap of {gap:.3f}; {who} fits the "
                    "training set far better than it predicts new samples")
        checks.append(Check(Finding("overfitting", evidence, fit_advice("overfitting", estimator, "regression")),
                            f"train R² {r2(train_r2)} against val R² {r2(val_r2)}", gap))
    if max(train_r2, val_r2) < NEVER_LEARNED_R2:
        evidence = (f"train R² {r2(train_r2)} and val R² {r2(val_r2)}: {who} predicts no better than the training "
                    "mean (R² 0)")
        checks.append(Check(Finding("underfitting", evidence, NEVER_LEARNED_ADVICE),
                            f"never learned (val R² {r2(val_r2)}, no better than the mean)", NEVER_LEARNED_SIZE,
                            never_learned=True))
    else:
        far = _shortfall(train_r2, val_r2, context)
        if far is not None:
            advice = fit_advice("underfitting", estimator, "regression")
            checks.append(Check(Finding("underfitting", far[0], advice), far[1], far[2]))
    checks = by_cost(checks)
    if not checks:
        evidence = f"{NOTHING_WRONG_FIT}: train R² {r2(train_r2)} against val R² {r2(val_r2)}, a gap of {gap:.3f}"
        checks = [Check(Finding("healthy", evidence, "nothing to fix; compare it with the suite's other models on "
                                "the validation metric"), f"val R² {r2(val_r2)}, train–val gap {gap:.3f}")]
    facts = (f"train R²: {r2(train_r2)}", f"val R²: {r2(val_r2)}", f"train–val R² gap: {gap:.3f}",
             "no epochs: fitted in one pass, so no curve to read")
    return assemble(checks, facts)


# ------------------------------------------------------------------ rules


def _diverged(c: _Curves, history: History) -> Check | None:
    found = non_finite(c) or _blow_up(c) or stopped_as_diverged(c, history)
    return Check(Finding("diverged", found[0], DIVERGED_ADVICE), found[1]) if found else None


def _blow_up(c: _Curves) -> tuple[str, str] | None:
    if c.n < 2:
        return None
    first, last, n = c.train_loss[0], c.train_loss[-1], c.n
    if last >= DIVERGE_UNIFORM_MULTIPLE * 1.0:
        return (f"train loss {loss(last)} at epoch {n}, {last:.1f}× the 1.00 of predicting the training mean "
                f"(the loss is MSE on the standardised target; it was {loss(first)} at epoch 1)",
                f"train loss {loss(last)} at epoch {n}, {last:.1f}× that of predicting the mean")
    if last >= DIVERGE_START_MULTIPLE * first:
        return (f"train loss rose from {loss(first)} at epoch 1 to {loss(last)} at epoch {n} "
                f"({last / first:.1f}× its starting value)",
                f"train loss rose {loss(first)} → {loss(last)} by epoch {n}")
    return None


def _overfitting(c: _Curves, history: History) -> Check | None:
    rise = val_loss_rise(c, history)
    gap = _gap_growth(c)
    found = rise or gap
    if found is None:
        return None
    parts = [p[0] for p in (rise, gap) if p is not None]
    best = history.best_epoch
    kept = (f"the model kept is the one from epoch {best} (val R² {r2(c.val_r2[best - 1])})"
            if best is not None and 1 <= best <= c.n else "")
    evidence = "; ".join([*parts, *([kept] if kept else [])])
    advice = overfit_advice(stopped_early=history.stop_reason == "early_stopping", images=False)
    return Check(Finding("overfitting", evidence, advice), found[1], size=max(0.0, c.tail().mean(c.gap)))


def _gap_growth(c: _Curves) -> tuple[str, str] | None:
    if c.n < OVERFIT_GAP_MIN_EPOCHS:
        return None
    width = min(SMOOTH_EPOCHS, c.n // 2)
    tail, mid = c.tail(width), Window(c.n // 2 - width + 1, c.n // 2)
    end, then = tail.mean(c.gap), mid.mean(c.gap)
    if not (end >= OVERFIT_R2_GAP and end - then >= OVERFIT_R2_GROWTH):
        return None
    return (f"train R² {r2(tail.mean(c.train_r2))} against val R² {r2(tail.mean(c.val_r2))} over {tail}: a gap of "
            f"{end:.3f}, up from {then:.3f} over {mid}", f"a train–val R² gap of {end:.3f}, up from {then:.3f}")


def _underfitting(c: _Curves, context: RegressionContext) -> Check | None:
    tail = c.tail()
    train, val = tail.mean(c.train_r2), tail.mean(c.val_r2)
    smooth = centred(c.val_r2)
    best_i = argbest(smooth, lower=False)
    peak_i = argbest(c.val_r2, lower=False)
    if (best_i is not None and peak_i is not None and math.isfinite(train)
            and max(smooth[best_i], train) < NEVER_LEARNED_R2):
        # Decided on 3-epoch means, told with the best single epoch (the figure tables show): as for accuracy.
        peak = c.val_r2[peak_i]
        evidence = (f"val R² never rose above {r2(peak)} (epoch {peak_i + 1}) and train R² averaged {r2(train)} "
                    f"over {tail}: no better than predicting the training mean (R² 0)")
        return Check(Finding("underfitting", evidence, NEVER_LEARNED_ADVICE),
                     f"never learned (val R² at most {r2(peak)}, no better than the mean)", NEVER_LEARNED_SIZE,
                     never_learned=True)
    far = _shortfall(train, val, context, span=f" over {tail}")
    return Check(Finding("underfitting", far[0], UNDERFIT_ADVICE), far[1], far[2]) if far else None


def _shortfall(
    train: float, val: float, context: RegressionContext, *, span: str = ""
) -> tuple[str, str, float] | None:
    ref = context.reference_r2
    if ref is None or not (math.isfinite(train) and math.isfinite(val)) or ref <= 0:
        return None
    short = ref - max(train, val)
    if short < max(UNDERFIT_MIN_R2_SHORTFALL, UNDERFIT_R2_SHARE * ref):
        return None
    who = subject(context.reference_label)
    return (f"train R² {r2(train)} (val {r2(val)}){span} where {who} reaches val R² {r2(ref)}: {short:.3f} short",
            f"train R² {r2(train)} where {who} reaches {r2(ref)}", short)


def _undertrained(c: _Curves, history: History) -> Check | None:
    if history.stop_reason != "completed" or c.n < 2 * UNDERTRAINED_MIN_WINDOW:
        return None
    width = min(UNDERTRAINED_FIT_EPOCHS, max(UNDERTRAINED_MIN_WINDOW, c.n // 2))
    fit = Window(c.n - width + 1, c.n)
    rate_r2 = slope(c.val_r2[fit.first - 1 :])
    half = max(1, fit.width // 2)
    prev, last = Window(fit.first, fit.first + half - 1), Window(c.n - half + 1, c.n)
    if not (rate_r2 >= UNDERTRAINED_R2_RATE and last.mean(c.val_r2) > prev.mean(c.val_r2)):
        return None
    evidence = (f"val R² climbed {rate_r2:.3f} an epoch over {fit} (straight-line fit) and was still rising at the "
                f"end, {r2(prev.mean(c.val_r2))} over {prev} to {r2(last.mean(c.val_r2))} over {last}, when the "
                f"{history.max_epochs or c.n}-epoch budget ran out")
    return Check(Finding("undertrained", evidence, UNDERTRAINED_ADVICE),
                 f"val R² still rising {rate_r2:.3f} an epoch when training ended")


def _healthy(c: _Curves) -> Check:
    best = argbest(c.val_r2, lower=False)
    tail = c.tail()
    at_best = "no finite val R²" if best is None else f"best val R² {r2(c.val_r2[best])} at epoch {best + 1} of {c.n}"
    gap = tail.mean(c.gap)
    evidence = f"{NOTHING_WRONG}: {at_best}; final train–val R² gap {gap:.3f} over {tail}"
    return Check(Finding("healthy", evidence, HEALTHY_ADVICE), f"{at_best}, train–val R² gap {gap:.3f}")


def _facts(c: _Curves, history: History) -> tuple[str, ...]:
    ending = {"completed": "completed", "early_stopping": "stopped early", "diverged": "stopped as diverged"}
    detail = f": {history.stop_detail}" if history.stop_detail else ""
    budget = f" of {history.max_epochs}" if history.max_epochs else ""
    facts = [f"epochs run: {c.n}{budget} ({ending.get(history.stop_reason, history.stop_reason)}{detail})"]
    i = argbest(c.val_loss, lower=True)
    if i is not None:
        facts.append(f"best val loss: {loss(c.val_loss[i])} at epoch {i + 1} (val R² {r2(c.val_r2[i])}, "
                     f"val MAE {c.val_mae[i]:.4g}); the loss is MSE on the standardised target, 1.00 is predicting "
                     "the training mean")
    if history.best_epoch is not None:
        facts.append(f"model kept: epoch {history.best_epoch}")
    # No final gap and no training time here: as for a classification (facts.run_facts), the findings
    # state the gap and the run's one training time is Trained.train_seconds.
    first_lr, last_lr = c.lr[0], c.lr[-1]
    facts.append(f"learning rate: {rate(first_lr) if first_lr == last_lr else f'{rate(first_lr)} → {rate(last_lr)}'}")
    return tuple(facts)


__all__ = ["RegressionContext", "diagnose_regression", "diagnose_regression_fit", "finite_mean"]
