"""A realistic suite run built by hand: five experiments that end in every way a run can end.

- ``cnn``: healthy, 12 epochs, chosen;
- ``cnn-wide``: overfitting caught by early stopping at epoch 14 (kept epoch 9), rejected by latency;
- ``mlp-hot``: diverged, NaN losses from epoch 4;
- ``logreg``: a scikit-learn baseline, history None, underfitting;
- ``resnet``: failed, evaluation None.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from practica.config.schema import ExperimentSpec, ModelSpec, Suite
from practica.data.records import Dataset, Skipped, Splits
from practica.diagnosis.records import Diagnosis, Finding
from practica.evaluation.records import ClassificationMetrics, ClassMetrics, Cost, Evaluation, SplitMetrics
from practica.results import Failed, Ok, SuiteRun, Trained

# practica.selection's package imports its policy, which imports practica.results: importing
# practica.results first is circular, so selection comes first here.
from practica.selection.records import Decision, Ranked  # noqa: I001
from practica.training.history import EpochRecord, History, PrecisionChoice

# cnn's history records what precision: auto measured (training/precision.py)
AUTO_BF16 = PrecisionChoice(setting="auto", used="bf16", processor="Intel Xeon (amx_bf16, avx512_bf16)", ms_fp32=63.0,
                            ms_bf16=41.0, probe_seconds=2.1, reason="bf16 steps 1.54× as fast as fp32's")
SCRIPT = "<script>alert('owned')</script> & a \"quoted\" | pipe"
DIGITS = tuple(str(i) for i in range(10))

EXPERIMENTS = [
    {"name": "cnn", "description": "Two conv blocks, the workhorse.",
     "model": {"layers": [{"conv": 16}, "relu", "maxpool", {"conv": 32}, "relu", "maxpool", "flatten",
                          {"dense": 64}, "relu"]}},
    {"name": "cnn-wide", "description": SCRIPT,
     "model": {"layers": [{"conv": 64}, "relu", {"conv": 64}, "relu", "maxpool", "flatten", {"dense": 256},
                          "relu", {"dropout": 0.2}]},
     "train": {"early_stopping": {"monitor": "val_loss", "patience": 5}}},
    {"name": "mlp-hot", "model": {"layers": ["flatten", {"dense": 128}, "relu"]},
     "train": {"optimizer": {"name": "sgd", "lr": 5.0, "momentum": 0.9}}},
    {"name": "logreg", "model": {"sklearn": "logistic_regression", "params": {"C": 1.0}}},
    {"name": "resnet", "model": {"layers": [{"residual": 16}, {"residual": 32}, "global_avgpool"]}},
]


def make_suite(name: str = "digits-case") -> Suite:
    raw = {
        "name": name,
        "description": "Which small model should read handwritten digits in the kiosk app?",
        "dataset": {"source": "digits", "split": {"val": 0.15, "test": 0.2, "seed": 0}},
        "augment": [{"crop": 1}],
        "defaults": {"train": {"epochs": 15, "batch_size": 64}},
        "experiments": EXPERIMENTS,
        "selection": {"metric": "val_accuracy", "constraints": {"latency_p95_ms": 2.0, "size_mb": 5},
                      "tolerance": 0.005, "prefer": "latency"},
    }
    try:
        from practica.config import suite_from_dict

        return suite_from_dict(raw)
    except Exception:  # the model registry is another stage's; the report must not depend on its state
        from pydantic import TypeAdapter

        from practica.config.layers import LayerSpec

        experiments = []
        for e in EXPERIMENTS:
            fields = dict(e["model"])
            if "layers" in fields:
                fields["layers"] = TypeAdapter(list[LayerSpec]).validate_python(fields["layers"])
            train = {"epochs": 15, "batch_size": 64, **e.get("train", {})}
            # model_construct skips ModelSpec's registry check; everything else is validated.
            experiments.append(ExperimentSpec(**{**e, "model": ModelSpec.model_construct(**fields), "train": train}))
        return Suite(**{**raw, "experiments": experiments, "defaults": {}})


# ------------------------------------------------------------------------ data


def image_splits(rng: np.random.Generator) -> Splits:
    """scikit-learn's 8×8 digits (bundled with it, no download) in a 65/15/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images * (255 / 16)).round().astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    order = rng.permutation(len(y))
    cuts = np.split(order, [int(0.65 * len(y)), int(0.8 * len(y))])
    full = Dataset("digits", x, y, DIGITS)
    train, val, test = (full.subset(i) for i in cuts)
    train = replace(train, skipped=(Skipped("raw/7/broken.png", "not an image (truncated file)"),))
    return Splits(train, val, test, indices=dict(zip(("train", "val", "test"), cuts, strict=True)),
                  fingerprint="3f9a0c1d2e4b5a6978abcdef", seed=0, test_is_fixed=False,
                  notes=("stratified by class, seed 0",))


def feature_splits(rng: np.random.Generator) -> Splits:
    classes = ("setosa", "versicolor", "virginica")

    def part(n: int) -> Dataset:
        return Dataset("iris.csv", rng.normal(size=(n, 4)).astype(np.float32), (np.arange(n) % 3).astype(np.int64),
                       classes)

    return Splits(part(90), part(30), part(30), indices={}, fingerprint="77aa", seed=1, test_is_fixed=True)


# ------------------------------------------------------------------- training


def history(n: int, *, stop: str = "completed", best: int | None = None, diverge_at: int | None = None,
            overfit_from: int | None = None) -> History:
    rows = []
    for e in range(1, n + 1):
        train_loss = 2.3 * math.exp(-0.25 * e) + 0.05
        val_loss = train_loss + 0.08 + (0.06 * (e - overfit_from) if overfit_from and e > overfit_from else 0)
        train_acc = 1 - 0.9 * math.exp(-0.3 * e)
        val_acc = train_acc - 0.03 - (0.01 * (e - overfit_from) if overfit_from and e > overfit_from else 0)
        if diverge_at and e >= diverge_at:
            train_loss = val_loss = math.nan
            train_acc = val_acc = 0.1
        elif diverge_at and e == diverge_at - 1:
            train_loss, val_loss = 40.0, 55.0
        rows.append(EpochRecord(e, train_loss, val_loss, 1e-3, 0.4,
                                {"train_accuracy": train_acc, "val_accuracy": val_acc}))
    detail = {"early_stopping": "val_loss did not improve for 5 epochs", "diverged": "train loss was NaN at epoch 5",
              "completed": ""}[stop]
    return History(tuple(rows), stop_reason=stop, best_epoch=best or n, max_epochs=15, stop_detail=detail)


# ---------------------------------------------------------------- evaluation


def split_metrics(acc: float, n: int, classes: tuple[str, ...], rng: np.random.Generator) -> SplitMetrics:
    k = len(classes)
    confusion = np.zeros((k, k), dtype=int)
    for i in range(k):
        per = n // k
        confusion[i, i] = round(per * acc)
        for j in rng.choice([j for j in range(k) if j != i], size=per - confusion[i, i]):
            confusion[i, j] += 1
    per_class = []
    for i, c in enumerate(classes):
        p = confusion[i, i] / max(1, confusion[:, i].sum())
        r = confusion[i, i] / max(1, confusion[i].sum())
        per_class.append(ClassMetrics(c, float(p), float(r), float(2 * p * r / (p + r) if p + r else 0.0),
                                      int(confusion[i].sum())))
    figures = ClassificationMetrics(accuracy=acc, macro_f1=acc - 0.004, ece=0.031 + (1 - acc) / 10,
                                    per_class=tuple(per_class),
                                    confusion=tuple(tuple(int(v) for v in row) for row in confusion))
    return SplitMetrics(loss=1 - acc, n=int(confusion.sum()), figures=figures)


def evaluation(val: float, test: float, p95: float, params: int, classes, rng) -> Evaluation:
    return Evaluation(train=min(1.0, val + 0.02), val=split_metrics(val, 270, classes, rng),
                      test=split_metrics(test, 360, classes, rng),
                      cost=Cost(params=params, size_bytes=params * 4, latency_p50_ms=p95 * 0.7,
                                latency_p95_ms=p95, throughput=12345.0 / p95))


# --------------------------------------------------------------------- the run


def ok(spec, history, diagnosis, ev: Evaluation, train_seconds: float, model_summary: str = "") -> Ok:
    """An experiment that trained to the scores and cost in ``ev``."""
    trained = Trained(history, ev.train, ev.val, ev.test, train_seconds, model_summary)
    return Ok(spec, trained, ev.cost, diagnosis)


def make_run(tmp_path: Path, *, chosen: str | None = "cnn", features: bool = False) -> SuiteRun:
    rng = np.random.default_rng(0)
    suite = make_suite()
    splits = feature_splits(rng) if features else image_splits(rng)
    classes = splits.classes
    spec = {e.name: e for e in suite.experiments}
    healthy = Diagnosis("healthy", "Trained well: best epoch 12 of 12, train–validation gap 2.9 points.", (),
                        ("best epoch 12 of 12", "final gap +2.9 points"))
    overfit = Diagnosis(
        "overfitting", "Overfitting, caught by early stopping at epoch 14; the kept model is epoch 9's.",
        (Finding("overfitting",
                 "val loss lowest 0.31 at epoch 9, 0.61 at epoch 14 (+97%) while train loss fell 0.30 → 0.12",
                 "augmentation, dropout or weight decay; early stopping already kept epoch 9"),
         Finding("undertrained", "val accuracy still rose 0.4 points per epoch over epochs 5–9",
                 "more epochs, with a schedule")),
        ("best epoch 9 of 14",))
    diverged = Diagnosis("diverged", "Diverged at epoch 5: the loss became NaN.",
                         (Finding("diverged", "train loss 0.61 at epoch 2, 40.0 at epoch 4, NaN at epoch 5",
                                  "lower the learning rate (5.0 is very high for sgd), "
                                  "add warm-up or gradient clipping"),),
                         ("epochs run 6 of 15",))
    under = Diagnosis("underfitting", "Underfitting: train accuracy 86.0% where the CNN reaches 97.9%.",
                      (Finding("underfitting", "train accuracy 86.0% vs 97.9% for cnn, gap 1.2 points",
                               "a model with more capacity; this is a baseline"),))
    results = (
        ok(spec["cnn"], replace(history(12), precision=AUTO_BF16), healthy,
           evaluation(0.962, 0.955, 0.42, 24_522, classes, rng),
                         train_seconds=48.3,
                         model_summary="conv16-relu-maxpool-conv32-relu-maxpool-flatten-dense64-relu (24.5 k params)"),
        ok(spec["cnn-wide"], history(14, stop="early_stopping", best=9, overfit_from=9), overfit,
                         evaluation(0.966, 0.961, 3.1, 1_254_000, classes, rng), train_seconds=312.0),
        ok(spec["mlp-hot"], history(6, stop="diverged", best=2, diverge_at=5), diverged,
                         evaluation(0.1, 0.1, 0.09, 9_610, classes, rng), train_seconds=7.9),
        ok(spec["logreg"], None, under, evaluation(0.941, 0.93, 0.05, 650, classes, rng),
                         train_seconds=1.2),
        Failed(spec["resnet"], train_seconds=3.4,
               error="RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x32 and 16x10)\n"
                     "  at layer 3 (global_avgpool → dense)"),
    )
    ranking = (
        Ranked("cnn-wide", 0.966, "rejected",
               "best validation accuracy, but p95 latency 3.1 ms exceeds the 2 ms limit"),
        Ranked("cnn", 0.962, "chosen", "best validation accuracy within the constraints"),
        Ranked("logreg", 0.941, "not chosen", "2.1 points below cnn, outside the 0.5-point tolerance"),
        Ranked("mlp-hot", 0.1, "rejected", "diverged; validation accuracy 10.0% is chance level"),
        Ranked("resnet", None, "rejected", "failed: RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    )
    summary = ("cnn goes to production: 96.2% validation accuracy at 0.42 ms p95 latency, "
               "within the 2 ms and 5 MB limits. "
               "cnn-wide scored 0.4 points higher but is 7× slower than the limit allows.")
    if chosen is None:
        ranking = tuple(replace(r, status="rejected") for r in ranking)
        summary = "No experiment satisfied the policy: every model either exceeded a limit or failed."
    decision = Decision(chosen, "val_accuracy", summary, ranking)
    return SuiteRun(suite=suite, run_dir=tmp_path, run_id="20250101-120000-ab12", splits=splits, results=results,
                    decision=decision, code_version="git 50d800d (dirty)", started="2025-01-01T12:00:00+00:00",
                    seconds=402.5)


# Tests take these through fixtures, never ``from conftest import``: another test folder's
# conftest module may hold that name.


@pytest.fixture(scope="session")
def build_run():
    """``build_run(run_dir, chosen="cnn", features=False)`` → a fresh ``SuiteRun``."""
    return make_run


@pytest.fixture(scope="session")
def script_text() -> str:
    """The hostile experiment description carried by ``cnn-wide``."""
    return SCRIPT


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """The main fixture run, its report written once per module into a fresh folder."""
    from practica.reporting import write_report

    out = tmp_path_factory.mktemp("report")
    write_report(make_run(out))
    return out
