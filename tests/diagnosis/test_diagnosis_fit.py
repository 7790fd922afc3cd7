"""diagnose_fit: models without epochs (scikit-learn baselines), read from train and val accuracy."""

from __future__ import annotations

import math

import pytest

from practica.diagnosis import DiagnosisContext, diagnose_fit

REF = DiagnosisContext.for_classes(10, reference_accuracy=0.83, reference_name="resnet20, the suite's best")

# (case, train accuracy, val accuracy, context, findings in order, phrases the top evidence must carry)
CASES = [
    (
        "decision tree memorizes",
        1.00, 0.27, REF, ["overfitting"],
        ["train accuracy 100.0% against val accuracy 27.0%: a 73.0-point gap", "decision tree fits the training set"],
    ),
    (
        "logistic regression on pixels",
        0.46, 0.40, REF, ["underfitting"],
        ["train accuracy 46.0% (val 40.0%) where resnet20, the suite's best, reaches 83.0%: 37.0 points short",
         "with a train–val gap of 6.0 points"],
    ),
    ("random forest: fits the training set, so no shortfall", 1.00, 0.47, REF, ["overfitting"], ["a 53.0-point gap"]),
    (
        "shallow tree: gap (27) costs more than the shortfall (18)",
        0.65, 0.38, REF, ["overfitting", "underfitting"], ["a 27.0-point gap"],
    ),
    (
        "kernel svm: shortfall (28) costs more than the gap (12)",
        0.55, 0.43, REF, ["underfitting", "overfitting"], ["28.0 points short"],
    ),
    ("within reach of the reference", 0.78, 0.74, REF, ["healthy"],
     ["a 4.0-point gap", "val accuracy 9.0 points below the 83.0% of resnet20"]),
    ("at chance", 0.11, 0.10, REF, ["underfitting"], ["where chance is 10.0%", "learned nothing"]),
    ("no reference: a small gap is healthy", 0.45, 0.40, DiagnosisContext.for_classes(10), ["healthy"],
     ["no sign of overfitting or underfitting"]),
    ("no reference: a large gap still overfits", 1.0, 0.6, DiagnosisContext.for_classes(10), ["overfitting"],
     ["40.0-point gap"]),
]


@pytest.mark.parametrize(
    ("train", "val", "context", "verdicts", "phrases"), [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
def test_fit_verdicts(
    train: float, val: float, context: DiagnosisContext, verdicts: list[str], phrases: list[str],
) -> None:
    d = diagnose_fit(train, val, context, model_name="decision tree")
    assert [f.verdict for f in d.findings] == verdicts
    assert d.verdict == verdicts[0]
    for phrase in phrases:
        assert phrase in d.findings[0].evidence, (phrase, d.findings[0].evidence)
    assert d.summary.startswith(verdicts[0].capitalize() + ":") and d.summary.endswith(".")
    assert f"train–val accuracy gap: {100 * (train - val):.1f} points" in d.facts


def test_model_name_defaults_to_the_model() -> None:
    assert "the model fits the training set" in diagnose_fit(1.0, 0.5, REF).findings[0].evidence


@pytest.mark.parametrize(("train", "val"), [(math.nan, 0.5), (0.5, math.inf), (1.2, 0.5), (0.9, -0.1)])
def test_fit_rejects_accuracies_that_are_not_fractions(train: float, val: float) -> None:
    with pytest.raises(ValueError, match="as a fraction in"):
        diagnose_fit(train, val, REF)


# Advice fits the kind of model: a forest is already many averaged trees, a linear model has no depth.
ADVICE_CASES = [
    ("random_forest", "overfitting", ["max_depth", "max_features"], ["average many", "random_forest)"]),
    ("decision_tree", "overfitting", ["max_depth", "random_forest"], ["lower C"]),
    ("logistic_regression", "overfitting", ["lower C"], ["depth", "tree", "average"]),
    ("knn", "overfitting", ["n_neighbors"], ["depth", "lower C"]),
    ("logistic_regression", "underfitting", ["higher C", "tree ensemble"], ["depth"]),
    ("random_forest", "underfitting", ["deeper trees"], ["tree ensemble (random_forest)"]),
]


@pytest.mark.parametrize(("estimator", "verdict", "says", "never"), ADVICE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in ADVICE_CASES])
def test_fit_advice_fits_the_kind_of_model(estimator: str, verdict: str, says: list[str], never: list[str]) -> None:
    train, val = (1.0, 0.6) if verdict == "overfitting" else (0.46, 0.40)
    d = diagnose_fit(train, val, REF, model_name=estimator, estimator=estimator)
    advice = next(f.advice for f in d.findings if f.verdict == verdict)
    assert all(word in advice for word in says), advice
    assert not any(word in advice for word in never), advice


def test_regression_fit_advice_names_alpha_for_a_linear_model() -> None:
    from practica.diagnosis.regression import RegressionContext, diagnose_regression_fit

    d = diagnose_regression_fit(0.9, 0.3, RegressionContext(0.5, "ridge"), model_name="ridge", estimator="ridge")
    assert "higher alpha" in d.findings[0].advice and "depth" not in d.findings[0].advice


def test_a_healthy_fit_says_so_in_plain_words() -> None:
    d = diagnose_fit(0.99, 0.967, REF, model_name="logistic-regression", estimator="logistic_regression")
    assert d.findings[0].evidence.startswith("no sign of overfitting or underfitting: ")
    assert "rule" not in d.findings[0].evidence
