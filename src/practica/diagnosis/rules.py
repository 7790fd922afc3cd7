"""Read a training run the way a practitioner would: a verdict, the numbers behind it, advice.

Every rule that holds becomes a Finding; they are ordered by importance and the first is the
verdict:

1. diverged: the run is broken, nothing else read from it can be trusted (and no other rule
   is read);
2. overfitting and underfitting, whichever costs more accuracy (the bias/variance rule of thumb:
   work first on the larger of the avoidable bias, reference minus fit, and the variance, the
   train-val gap); on a tie, overfitting, since more capacity, underfitting's cure, feeds it;
3. undertrained goes just before underfitting: a shortfall read off a curve still climbing
   steeply is not yet evidence of missing capacity, and more epochs is the first, cheapest
   test. It is not read when the run overfits (more epochs would feed the overfit);
4. plateau: a stall, which matters least because its cure (a step down in learning rate) is the
   cheapest; not read when the run never learned (it is flat from the start, and that says it).

Thresholds live in ``thresholds.py``; docs/diagnosis.md explains them.
"""

from __future__ import annotations

import math

from practica.diagnosis.check import Check
from practica.diagnosis.context import DiagnosisContext
from practica.diagnosis.curves import Curves
from practica.diagnosis.divergence import check_diverged
from practica.diagnosis.facts import healthy, run_facts
from practica.diagnosis.fitting import check_overfitting, check_underfitting, fit_checks
from practica.diagnosis.progress import check_plateau, check_undertrained
from practica.diagnosis.records import Diagnosis, Finding
from practica.diagnosis.text import NOTHING_WRONG_FIT, pct, point_gap, points
from practica.training.history import History

FIT_HEALTHY_ADVICE = "nothing to fix; compare it with the suite's other models on the validation metric"


def diagnose(history: History, context: DiagnosisContext) -> Diagnosis:
    """The verdict on one training run, with every finding that holds, most important first.

    >>> from practica.training.history import EpochRecord, History
    >>> guess = {"train_accuracy": 0.1, "val_accuracy": 0.1}
    >>> run = History(tuple(EpochRecord(e, 2.3, 2.3, 1e-3, 1.0, guess) for e in range(1, 6)), max_epochs=5)
    >>> diagnose(run, DiagnosisContext.for_classes(10)).verdict
    'underfitting'
    """
    if not history.epochs:
        raise ValueError(
            "diagnose() needs a history with at least one epoch; got none. "
            "For a model fitted without epochs (scikit-learn), use diagnose_fit()."
        )
    curves = Curves.of(history)
    diverged = check_diverged(curves, history, context)
    checks = [diverged] if diverged else _ordered_checks(curves, history, context)
    if not checks:
        checks = [healthy(curves, history)]
    return assemble(checks, run_facts(curves, history))


def diagnose_fit(
    train_accuracy: float, val_accuracy: float, context: DiagnosisContext, *, model_name: str = "",
    estimator: str | None = None,
) -> Diagnosis:
    """The verdict on a model fitted without epochs (scikit-learn baselines), from its train and
    val accuracy: overfitting from the gap, underfitting from the shortfall to the reference.
    ``estimator`` (the suite's ``model.sklearn`` name) picks advice that fits the kind of model.

    >>> context = DiagnosisContext.for_classes(10, reference_accuracy=0.83)
    >>> diagnose_fit(1.0, 0.27, context, model_name="decision tree").verdict
    'overfitting'
    """
    for name, value in (("train_accuracy", train_accuracy), ("val_accuracy", val_accuracy)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"diagnose_fit() needs {name} as a fraction in [0, 1]; got {value!r}")
    who = model_name or "the model"
    checks = by_cost(fit_checks(train_accuracy, val_accuracy, context, who, estimator))
    gap = train_accuracy - val_accuracy
    if not checks:
        evidence = (
            f"{NOTHING_WRONG_FIT}: train accuracy {pct(train_accuracy)} against val accuracy "
            f"{pct(val_accuracy)}, a {point_gap(gap)} gap{_reference_clause(val_accuracy, context)}"
        )
        headline = f"val accuracy {pct(val_accuracy)}, train–val gap {points(gap)}"
        checks = [Check(Finding("healthy", evidence, FIT_HEALTHY_ADVICE), headline)]
    facts = (
        f"train accuracy: {pct(train_accuracy)}",
        f"val accuracy: {pct(val_accuracy)}",
        f"train–val accuracy gap: {points(gap)}",
        "no epochs: fitted in one pass, so no curve to read",
    )
    return assemble(checks, facts)


def _ordered_checks(curves: Curves, history: History, context: DiagnosisContext) -> list[Check]:
    over = check_overfitting(curves, history, images=context.images)
    under = check_underfitting(curves, context)
    never_learned = under is not None and under.never_learned
    undertrained = None if over else check_undertrained(curves, history)
    plateau = None if never_learned else check_plateau(curves, history)
    ordered = by_cost([c for c in (over, under) if c is not None])
    if undertrained is not None:  # no overfitting here, so ordered is [] or [underfitting]
        ordered.insert(0, undertrained)
    return [*ordered, *([plateau] if plateau else [])]


def by_cost(checks: list[Check]) -> list[Check]:
    """Larger cost first; overfitting before underfitting on a tie (sorted() is stable)."""
    return sorted(checks, key=lambda c: -c.size)


def _reference_clause(val_acc: float, context: DiagnosisContext) -> str:
    ref = context.reference_accuracy
    if ref is None:
        return ""
    if val_acc >= ref:
        return f", val accuracy at or above the {pct(ref)} of {context.reference_label}"
    return f", val accuracy {points(ref - val_acc)} below the {pct(ref)} of {context.reference_label}"


def assemble(checks: list[Check], facts: tuple[str, ...]) -> Diagnosis:
    top, rest = checks[0], checks[1:]
    also = f"; also {', '.join(c.finding.verdict for c in rest)}" if rest else ""
    summary = f"{top.finding.verdict.capitalize()}: {top.headline}{also}."
    return Diagnosis(top.finding.verdict, summary, tuple(c.finding for c in checks), facts)
