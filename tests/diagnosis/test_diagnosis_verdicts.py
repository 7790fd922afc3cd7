"""One run per verdict, shaped like a real CIFAR-10 curve: the verdict, and evidence that names
the right epochs and numbers."""

from __future__ import annotations

import json

import diagnosis_histories as runs
import pytest
from pydantic import TypeAdapter

from practica.diagnosis import Diagnosis, DiagnosisContext, diagnose
from practica.training.history import HISTORY, History

REF = DiagnosisContext.for_classes(10, reference_accuracy=0.83, reference_name="resnet20, the suite's best")
NO_REF = DiagnosisContext.for_classes(10)

# (case, run, context, verdict, every finding's verdict in order, phrases the top evidence must carry)
CASES = [
    ("healthy cosine", runs.healthy_cosine(), REF, ["healthy"], ["no sign of overfitting", "over epochs 28–30"]),
    ("healthy constant lr", runs.healthy_constant(), REF, ["healthy"], ["no sign of overfitting"]),
    ("healthy one-cycle", runs.healthy_onecycle(), REF, ["healthy"], ["no sign of overfitting"]),
    ("healthy early-stopped", runs.healthy_early_stopped(), REF, ["healthy"], ["no sign of overfitting"]),
    (
        "overfit, val loss low at 7 of 20",
        runs.overfit(),
        REF,
        ["overfitting"],
        ["at epoch 7", "over epochs 18–20", "while train loss fell", "nothing stopped the run"],
    ),
    (
        "overfit caught by early stopping",
        runs.early_stopped_overfit(),
        REF,
        ["overfitting"],
        ["at epoch 7", "early stopping caught it", "stopped at epoch 12", "the one from epoch 7"],
    ),
    (
        "never learned, at chance",
        runs.never_learned(),
        REF,
        ["underfitting"],
        ["barely moved", "2.30 at epoch 1", "where chance is 10.0%", "over epochs 8–10"],
    ),
    (
        "underfit far below the reference",
        runs.underfit(),
        REF,
        ["underfitting", "plateau"],
        ["train accuracy 41.0%", "resnet20, the suite's best, reaches 83.0%", "over epochs 18–20",
         "only 0.7 points apart"],
    ),
    ("plateau", runs.plateau(), REF, ["plateau"], ["last 5 epochs", "over epochs 16–20", "from epoch 15", "0.05"]),
    (
        "still improving at the budget's end",
        runs.undertrained(),
        NO_REF,
        ["undertrained"],
        ["over epochs 8–15", "over epochs 10–12", "over epochs 13–15", "15-epoch budget ended"],
    ),
    (
        "undertrained, and short of the reference because of it",
        runs.undertrained(),
        REF,
        ["undertrained", "underfitting"],
        ["15-epoch budget ended"],
    ),
    (
        "6-epoch one-cycle run cut short",
        runs.undertrained_onecycle(),
        NO_REF,
        ["undertrained"],
        ["6-epoch budget ended", "annealed"],
    ),
    ("NaN divergence", runs.nan_divergence(), REF, ["diverged"], ["became NaN at epoch 5", "4.70 at epoch 4"]),
    ("loss explosion without NaN", runs.loss_explosion(), REF, ["diverged"], ["9.70 at epoch 8", "uniform guess"]),
    ("collapse to a constant prediction", runs.collapse(), REF, ["diverged"],
     ["low of 0.800 at epoch 5", "71.0%", "10.0%"]),
]


@pytest.mark.parametrize(("run", "context", "verdicts", "phrases"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict_and_evidence(run: History, context: DiagnosisContext, verdicts: list[str], phrases: list[str]) -> None:
    d = diagnose(run, context)
    assert [f.verdict for f in d.findings] == verdicts, d.findings
    assert d.verdict == verdicts[0]
    for phrase in phrases:
        assert phrase in d.findings[0].evidence, (phrase, d.findings[0].evidence)
    assert all(f.advice for f in d.findings)
    _assert_summary_and_facts(d, run)


def _assert_summary_and_facts(d: Diagnosis, run: History) -> None:
    assert d.summary.startswith(d.verdict.capitalize() + ":")
    assert d.summary.endswith(".") and d.summary.count(". ") == 0 and "\n" not in d.summary
    assert d.facts[0].startswith(f"epochs run: {len(run.epochs)} of {run.max_epochs}")
    as_json = TypeAdapter(Diagnosis)  # as the run directory writes and reads diagnosis.json
    assert as_json.validate_python(json.loads(json.dumps(as_json.dump_python(d)))) == d


# The brief's textbook overfit, written out so the whole sentence can be checked.
TEXTBOOK_OVERFIT = runs.history(
    train_loss=[1.62, 1.21, 0.98, 0.84, 0.74, 0.66, 0.60, 0.54, 0.49, 0.45,
                0.41, 0.38, 0.35, 0.32, 0.30, 0.28, 0.26, 0.24, 0.22, 0.21],
    train_acc=[0.42, 0.57, 0.66, 0.71, 0.74, 0.77, 0.79, 0.81, 0.83, 0.85,
               0.86, 0.87, 0.88, 0.89, 0.90, 0.91, 0.92, 0.92, 0.93, 0.93],
    val_loss=[1.45, 1.12, 0.97, 0.90, 0.86, 0.84, 0.82, 0.84, 0.86, 0.85,
              0.88, 0.90, 0.93, 0.95, 0.97, 0.99, 1.01, 1.03, 1.05, 1.07],
    val_acc=[0.48, 0.58, 0.64, 0.67, 0.69, 0.70, 0.71, 0.71, 0.70, 0.71,
             0.70, 0.70, 0.69, 0.70, 0.69, 0.69, 0.68, 0.69, 0.68, 0.68],
)


def test_textbook_overfit_evidence_reads_in_full() -> None:
    d = diagnose(TEXTBOOK_OVERFIT, REF)
    assert d.findings[0].evidence == (
        "val loss lowest 0.820 at epoch 7 (0.833 over epochs 6–8), then 1.05 over epochs 18–20 (+26%) "
        "while train loss fell 0.600 → 0.223; "
        "train accuracy 92.7% against val accuracy 68.3% over epochs 18–20: a 24.3-point gap, "
        "up from 12.3 points over epochs 8–10; "
        "nothing stopped the run: the model kept is epoch 20's (val loss 1.07, val accuracy 68.0%) "
        "against val loss 0.820, val accuracy 71.0% at epoch 7"
    )
    assert d.summary == "Overfitting: val loss rose 26% after epoch 7 while train loss kept falling."
    assert "early stopping" in d.findings[0].advice and "augmentation" in d.findings[0].advice


def test_early_stopping_advice_says_the_best_epoch_is_already_kept() -> None:
    d = diagnose(runs.early_stopped_overfit(), REF)
    assert d.findings[0].advice.startswith("early stopping already keeps the best epoch")
    assert "model kept: epoch 7" in d.facts


def test_early_stopping_is_not_a_budget_running_out() -> None:
    still_rising = runs.truncate(runs.undertrained(), 15, stop_reason="early_stopping", best_epoch=15, max_epochs=40)
    assert "undertrained" not in [f.verdict for f in diagnose(still_rising, NO_REF).findings]


def test_an_overfitting_run_is_not_also_called_undertrained() -> None:
    # Val accuracy still creeps up while val loss climbs: more epochs would feed the overfit.
    d = diagnose(runs.overfit(), NO_REF)
    assert [f.verdict for f in d.findings] == ["overfitting"]


def test_never_learned_is_not_also_a_plateau() -> None:
    flat = runs.never_learned(n=20)
    assert [f.verdict for f in diagnose(flat, REF).findings] == ["underfitting"]


def test_plateau_on_val_accuracy_when_that_is_the_monitor() -> None:
    d = diagnose(runs.truncate(runs.plateau(), 20, monitor="val_accuracy"), REF)
    assert d.verdict == "plateau"
    assert d.findings[0].evidence.startswith("val accuracy has not improved over the last 5 epochs")


def test_annealed_schedule_is_convergence_not_a_plateau() -> None:
    annealed = runs.truncate(runs.plateau(), 20)
    d = HISTORY.dump_python(annealed)
    for i, record in enumerate(d["epochs"]):
        record["lr"] = 0.05 if i < 12 else 0.0005  # stepped down 100× at epoch 13
    assert diagnose(HISTORY.validate_python(d), REF).verdict == "healthy"


def test_larger_cost_comes_first_when_overfitting_and_underfitting_both_hold() -> None:
    # The overfit curves moved down: train accuracy ends near 65%, val near 45% (a 20-point gap).
    base = runs.overfit()
    weak = runs.history(
        base.column("train_loss"),
        [a - 0.29 for a in base.column("train_accuracy")],
        base.column("val_loss"),
        [a - 0.25 for a in base.column("val_accuracy")],
    )
    # Reference 80%: 15 points short, less than the 20-point gap: variance first.
    near = DiagnosisContext.for_classes(10, reference_accuracy=0.80, reference_name="the declared reachable accuracy")
    d = diagnose(weak, near)
    assert [f.verdict for f in d.findings] == ["overfitting", "underfitting"]
    assert d.summary.endswith("; also underfitting.")
    # Reference 95%: 30 points short, more than the gap: bias first.
    far = DiagnosisContext.for_classes(10, reference_accuracy=0.95, reference_name="the declared reachable accuracy")
    assert [f.verdict for f in diagnose(weak, far).findings] == ["underfitting", "overfitting"]


def test_facts_are_neutral_numbers() -> None:
    d = diagnose(runs.early_stopped_overfit(), REF)
    best = min(range(12), key=lambda i: runs.early_stopped_overfit().epochs[i].val_loss)
    assert d.facts[0] == "epochs run: 12 of 30 (stopped early)"
    assert d.facts[1].startswith("best val loss: ") and f"at epoch {best + 1}" in d.facts[1]
    # Said once elsewhere: the gap in the findings (and the report's kept-model row), the time in
    # Trained.train_seconds; a second figure for either only contradicts the first.
    assert not any(f.startswith(("final train–val", "training time")) for f in d.facts)


def test_spike_that_recovered_is_a_fact_not_a_verdict() -> None:
    h = runs.healthy_cosine()
    d = HISTORY.dump_python(h)
    d["epochs"][9]["train_loss"] = 3 * d["epochs"][8]["train_loss"]
    result = diagnose(HISTORY.validate_python(d), REF)
    assert result.verdict == "healthy"
    assert any(f.startswith("train loss spiked at epoch 10") for f in result.facts)


def test_nan_in_a_run_is_reported_with_its_epoch_and_facts_skip_it() -> None:
    d = diagnose(runs.nan_divergence(), REF)
    assert d.facts[0] == "epochs run: 5 of 30 (stopped as diverged: non-finite train loss at step 1790)"
    assert d.facts[1] == "best val loss: 1.88 at epoch 1 (val accuracy 30.0%)"
    assert all("nan" not in f.lower() or "non-finite" in f for f in d.facts)
    assert d.summary == "Diverged: train loss became NaN at epoch 5."


def test_a_network_on_a_table_is_not_told_to_crop_and_flip() -> None:
    """Augmentation by crops and flips is advice for images; an MLP on a feature table gets the rest."""
    image = diagnose(runs.overfit(), REF).findings[0]
    tables = DiagnosisContext(0.1, 0.83, "resnet20, the suite's best", images=False)
    table = diagnose(runs.overfit(), tables).findings[0]
    assert image.verdict == table.verdict == "overfitting"
    assert "random crops, flips" in image.advice
    assert "crops" not in table.advice and "dropout or weight decay" in table.advice
