"""Short runs, NaN, missing references, and bad contexts: answers, never crashes."""

from __future__ import annotations

import doctest
import math

import diagnosis_histories as runs
import pytest

import practica.diagnosis.context
import practica.diagnosis.rules
from practica.diagnosis import DiagnosisContext, diagnose
from practica.training.history import History

REF = DiagnosisContext.for_classes(10, reference_accuracy=0.83, reference_name="resnet20, the suite's best")
NO_REF = DiagnosisContext.for_classes(10)
NAN = math.nan


# (case, run, context, verdict)
CASES = [
    ("one good epoch", runs.history([1.6], [0.42], [1.35], [0.52]), NO_REF, "healthy"),
    ("one epoch at chance", runs.history([2.31], [0.10], [2.30], [0.10]), NO_REF, "underfitting"),
    ("one epoch far below the reference", runs.history([1.6], [0.42], [1.35], [0.52]), REF, "underfitting"),
    ("one NaN epoch", runs.history([NAN], [0.1], [NAN], [0.1]), REF, "diverged"),
    ("two epochs, climbing fast", runs.history([1.7, 1.3], [0.38, 0.52], [1.45, 1.2], [0.47, 0.58]), NO_REF,
     "undertrained"),
    ("two epochs, loss doubling", runs.history([1.7, 3.6], [0.38, 0.15], [1.45, 3.9], [0.47, 0.12]), NO_REF,
     "diverged"),
    ("all NaN", runs.history([NAN] * 3, [0.1] * 3, [NAN] * 3, [0.1] * 3, stop_reason="diverged"), REF, "diverged"),
    ("NaN val loss only", runs.history([1.7, 1.5, 1.4], [0.4, 0.45, 0.5], [1.5, NAN, 1.3], [0.4, 0.45, 0.5]), REF,
     "diverged"),
    ("stopped as diverged, losses finite",
     runs.history([1.7, 1.5], [0.4, 0.45], [1.5, 1.4], [0.4, 0.45], stop_reason="diverged",
                  stop_detail="loss above 1e4 at step 120"), REF, "diverged"),
    ("NaN accuracies only", runs.history([1.7, 1.5, 1.4], [NAN] * 3, [1.5, 1.4, 1.35], [NAN] * 3), REF, "healthy"),
    ("no epoch budget recorded", runs.truncate(runs.undertrained(), 15, max_epochs=0), NO_REF, "undertrained"),
]


@pytest.mark.parametrize(("run", "context", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edge_cases_give_an_answer(run: History, context: DiagnosisContext, verdict: str) -> None:
    d = diagnose(run, context)
    assert d.verdict == verdict, d
    assert d.summary and d.findings and d.facts
    assert all("nan%" not in text for text in (d.summary, *d.facts, *(f.evidence for f in d.findings)))


def test_all_nan_run_says_no_finite_loss_was_recorded() -> None:
    d = diagnose(runs.history([NAN] * 3, [0.1] * 3, [NAN] * 3, [0.1] * 3, stop_reason="diverged"), REF)
    assert d.findings[0].evidence == (
        "train loss was NaN from epoch 1, and no finite train loss was recorded in any of its 3 epochs"
    )
    assert "best val loss: none, no epoch recorded a finite one" in d.facts


def test_stop_detail_is_quoted_when_losses_stayed_finite() -> None:
    run = runs.history([1.7, 1.5], [0.4, 0.45], [1.5, 1.4], [0.4, 0.45], stop_reason="diverged",
                       stop_detail="loss above 1e4 at step 120")
    assert diagnose(run, REF).findings[0].evidence == (
        "training stopped as diverged at epoch 2 (loss above 1e4 at step 120)"
    )


def test_val_loss_turning_inf_is_named() -> None:
    run = runs.history([1.7, 1.5, 1.4], [0.4, 0.45, 0.5], [1.5, 1.45, math.inf], [0.4, 0.45, 0.1])
    assert diagnose(run, REF).findings[0].evidence.startswith("val loss became inf at epoch 3")


def test_without_a_reference_a_weak_run_is_not_called_underfitting() -> None:
    assert diagnose(runs.underfit(), NO_REF).verdict != "underfitting"


def test_a_history_without_epochs_points_to_diagnose_fit() -> None:
    with pytest.raises(ValueError, match="diagnose_fit"):
        diagnose(History(()), REF)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chance_accuracy": 0.0}, "chance_accuracy"),
        ({"chance_accuracy": 1.0}, "chance_accuracy"),
        ({"chance_accuracy": NAN}, "chance_accuracy"),
        ({"chance_accuracy": 0.1, "reference_accuracy": 83.0}, "0.83, not 83"),
        ({"chance_accuracy": 0.1, "reference_accuracy": 0.0}, "reference_accuracy"),
    ],
)
def test_context_rejects_impossible_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DiagnosisContext(**kwargs)


def test_context_for_classes() -> None:
    ctx = DiagnosisContext.for_classes(4, reference_accuracy=0.9, reference_name="cnn")
    assert (ctx.chance_accuracy, ctx.n_classes, ctx.reference_label) == (0.25, 4, "cnn")
    assert DiagnosisContext.for_classes(10).reference_label == "the reference"
    with pytest.raises(ValueError, match="at least 2 classes"):
        DiagnosisContext.for_classes(1)


@pytest.mark.parametrize("module", [practica.diagnosis.rules, practica.diagnosis.context])
def test_docstring_examples_run(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_never_learned_quotes_the_best_epoch_a_table_shows() -> None:
    """The evidence names the best single epoch's val accuracy (the figure beside it in the report),
    not a 3-epoch mean that reads lower than the table ("never rose above 12.8%" beside 13.3%)."""
    from practica.diagnosis import DiagnosisContext, diagnose
    from practica.training.history import EpochRecord, History

    val = [0.10, 0.11, 0.12, 0.12, 0.13, 0.125, 0.128, 0.126, 0.13, 0.133]
    runs = History(tuple(EpochRecord(i + 1, 2.31 - 0.001 * i, 2.30, 5e-4, 0.1,
                                     {"train_accuracy": 0.12, "val_accuracy": v}) for i, v in enumerate(val)))
    d = diagnose(runs, DiagnosisContext.for_classes(10))
    assert d.verdict == "underfitting"
    assert "never rose above 13.3% (epoch 10)" in d.findings[0].evidence
    assert "val accuracy at most 13.3%" in d.summary
