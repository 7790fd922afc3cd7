"""The run directory: where each record lives, and every record read back as it was written."""

from __future__ import annotations

import json

import pytest

from practica.config import suite_from_dict
from practica.config.schema import ExperimentSpec
from practica.diagnosis.records import Diagnosis, Finding
from practica.errors import RunError
from practica.evaluation.records import (
    ClassificationMetrics,
    ClassMetrics,
    Cost,
    CrossValidation,
    RegressionMetrics,
    SplitMetrics,
)
from practica.io import write_json
from practica.pipeline.rundir import RunDir
from practica.results import Failed, Trained
from practica.selection.records import Decision, Ranked
from practica.training.history import EpochRecord, History

SPEC = ExperimentSpec(name="mlp", model={"arch": "mlp"})


def split(accuracy: float) -> SplitMetrics:
    figures = ClassificationMetrics(
        accuracy=accuracy, macro_f1=accuracy, ece=0.02,
        per_class=(ClassMetrics("a", 0.9, 0.8, 0.85, 5), ClassMetrics("b", 0.7, 0.8, 0.75, 5)),
        confusion=((4, 1), (1, 4)))
    return SplitMetrics(loss=0.4, n=10, figures=figures)


def trained() -> Trained:
    history = History((EpochRecord(1, 1.0, 0.9, 0.1, 2.0, {"train_accuracy": 0.5, "val_accuracy": 0.6}),
                       EpochRecord(2, 0.7, 0.8, 0.1, 2.0, {"train_accuracy": 0.7, "val_accuracy": 0.65})),
                      stop_reason="early_stopping", best_epoch=1, max_epochs=5, extra={"lookahead": 0.5})
    return Trained(history, 0.8, split(0.75), split(0.7), 4.0, "mlp (1,000 parameters)",
                   cv=CrossValidation(folds=2, accuracies=(0.7, 0.8), samples=20, groups=20))


@pytest.fixture
def suite(tiny_suite):
    return suite_from_dict(tiny_suite)


def test_the_layout(suite, tmp_path):
    run = RunDir.create(tmp_path, suite)
    assert run.path.parent == tmp_path / suite.name and run.suite_file.is_file()
    exp = run.experiment("mlp")
    assert exp.path == run.path / "experiments" / "mlp" and exp.run_id == run.id
    assert exp.result.name == "result.json" and exp.model.name == "model.safetensors"
    assert run.summary_file == run.path / "data" / "summary.json" and run.decision_file.name == "decision.json"
    assert run.bundle() == run.path / "bundle" and run.bundle("mlp", "mlp") == run.path / "bundle"
    assert run.bundle("cnn", "mlp") == run.path / "bundle-cnn"
    assert RunDir.find(tmp_path, suite, None).path == run.path
    assert RunDir.create(tmp_path, suite).path != run.path  # two runs in the same second get two folders


def test_every_record_reads_back_as_written(suite, tmp_path):
    run = RunDir.create(tmp_path, suite)
    exp = run.experiment("mlp")
    exp.write_result(trained())
    back = exp.read_result(SPEC)
    assert back == trained()
    record = json.loads(exp.result.read_text())
    assert record["status"] == "ok" and record["cv"]["fold_accuracies"] == [0.7, 0.8]
    assert record["cv"]["accuracy_mean"] == pytest.approx(0.75)
    assert exp.trust_problems(ExperimentSpec(name="nb", model={"sklearn": "naive_bayes"})) == []

    exp.write_result(Failed(SPEC, "ValueError: boom", "mlp"))
    assert exp.read_result(SPEC) == Failed(SPEC, "ValueError: boom", "mlp")

    diagnosis = Diagnosis("overfitting", "Overfitting.", (Finding("overfitting", "val loss rose", "regularise"),),
                          ("best epoch 1",))
    exp.write_diagnosis(diagnosis)
    assert exp.read_diagnosis() == diagnosis
    decision = Decision("mlp", "val_accuracy", "mlp goes.",
                        (Ranked("mlp", 0.75, "chosen", "best"), Ranked("cnn", None, "rejected", "failed")))
    run.write_decision(decision)
    assert run.read_decision() == decision
    run.update_status(status="running", code_version="0.1")
    run.update_status(status="complete")
    assert run.read_status() == {"status": "complete", "code_version": "0.1"}


def test_a_regression_split_reads_back(suite, tmp_path):
    reg = RegressionMetrics(mse=1.0, rmse=1.0, mae=0.8, r2=0.5, residual_mean=0.0, residual_std=1.0,
                            max_abs_error=3.0, target_std=1.4, actual=(1.0, 2.0), predicted=(1.5, 2.5))
    metrics = SplitMetrics(loss=1.0, n=2, figures=reg)
    record = Trained(None, 0.6, metrics, metrics, 0.1, "ridge")
    exp = RunDir.create(tmp_path, suite).experiment("ridge")
    exp.write_result(record)
    back = exp.read_result(SPEC)
    assert isinstance(back, Trained) and back.val.regression == reg and back.train == 0.6 and back == record
    with pytest.raises(ValueError, match="no accuracy"):
        _ = back.val.classification


def test_an_altered_result_is_not_trusted(suite, tmp_path):
    exp = RunDir.create(tmp_path, suite).experiment("nb")
    exp.write_result(trained())
    exp.result.write_text(exp.result.read_text().replace('"train_seconds": 4.0', '"train_seconds": 1.0'))
    baseline = ExperimentSpec(name="nb", model={"sklearn": "naive_bayes"})
    (problem,) = exp.trust_problems(baseline)
    assert "does not match its recorded sha256" in problem
    exp.discard_result()
    assert not exp.result.exists()


def test_export_refuses_what_is_not_a_finished_run(suite, tmp_path):
    with pytest.raises(RunError, match="not a run directory"):
        RunDir.finished(tmp_path)
    run = RunDir.create(tmp_path, suite)
    with pytest.raises(RunError, match="has not finished"):
        RunDir.finished(run.path)


def test_records_of_runs_before_the_task_shaped_metrics_still_read(suite, tmp_path):
    """result.json and metrics.json as earlier runs wrote them: a classification's figures at the top of a
    split (NaN for a regression, with ``regression`` beside them) and ``train_accuracy``/``train_r2``."""
    nan = float("nan")
    cost = {"params": 10, "size_bytes": 40, "latency_p50_ms": 0.1, "latency_p95_ms": 0.2, "throughput": 100.0}
    flat = {"loss": 0.4, "accuracy": 0.75, "macro_f1": 0.75, "ece": 0.02,
            "per_class": [{"name": "a", "precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 5},
                          {"name": "b", "precision": 0.7, "recall": 0.8, "f1": 0.75, "support": 5}],
            "confusion": [[4, 1], [1, 4]], "n": 10, "regression": None}
    reg = {"mse": 1.0, "rmse": 1.0, "mae": 0.8, "r2": 0.5, "residual_mean": 0.0, "residual_std": 1.0,
           "max_abs_error": 3.0, "target_std": 1.4, "actual": [1.0], "predicted": [1.5]}
    flat_reg = {"loss": 1.0, "accuracy": nan, "macro_f1": nan, "ece": nan, "per_class": [], "confusion": [], "n": 2,
                "regression": reg}
    run = RunDir.create(tmp_path, suite)
    exp = run.experiment("mlp")
    write_json(exp.metrics, {"train_accuracy": 0.8, "val": flat, "test": flat, "cost": cost, "train_r2": nan})
    ev = exp.read_evaluation()
    assert ev is not None and ev.train == 0.8 and ev.val == split(0.75) and ev.cost == Cost(**cost)
    write_json(exp.metrics, {"train_accuracy": nan, "val": flat_reg, "test": flat_reg, "cost": cost, "train_r2": 0.6})
    ev = exp.read_evaluation()
    assert ev is not None and ev.train == 0.6 and ev.task == "regression" and ev.test.regression.r2 == 0.5
    common = {"history": None, "train_seconds": 0.1, "model_summary": "m", "cv": None, "status": "ok"}
    write_json(exp.result, {**common, "train_accuracy": nan, "val": flat_reg, "test": flat_reg, "train_r2": 0.6})
    back = exp.read_result(SPEC)
    assert isinstance(back, Trained) and back.train == 0.6 and back.val.regression.mae == 0.8
    write_json(exp.result, {**common, "train_accuracy": 0.8, "val": flat, "test": flat, "train_r2": nan})
    back = exp.read_result(SPEC)
    assert isinstance(back, Trained) and back.train == 0.8 and back.val == split(0.75)
