"""k-fold cross-validation of the baselines (``dataset.split.cv_folds``) and class weighting
(``train.class_weight: balanced``) for networks and baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from practica.config import suite_from_dict
from practica.config.schema import DatasetSpec, ExperimentSpec, TrainSpec
from practica.data import make_splits
from practica.data.records import Dataset
from practica.errors import ConfigError
from practica.pipeline.experiment import cross_validate, train_experiment
from practica.pipeline.rundir import ExperimentDir
from practica.pipeline.suite import run_suite
from practica.training.trainer import fit


def test_cv_is_reported_for_baselines_and_not_for_networks(tiny_suite, tmp_path):
    tiny_suite["dataset"]["split"]["cv_folds"] = 3
    tiny_suite["dataset"]["max_samples"] = 300
    tiny_suite["defaults"]["train"]["epochs"] = 1
    tiny_suite["experiments"] = [e for e in tiny_suite["experiments"] if e["name"] != "cnn"]
    run = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    nb = json.loads((run.run_dir / "experiments/nb/result.json").read_text())
    assert nb["cv"]["folds"] == 3 and len(nb["cv"]["fold_accuracies"]) == 3
    assert nb["cv"]["samples"] == len(run.splits.train) + len(run.splits.val)
    assert nb["cv"]["accuracy_mean"] == pytest.approx(np.mean(nb["cv"]["fold_accuracies"]))
    assert nb["cv"]["accuracy_std"] == pytest.approx(np.std(nb["cv"]["fold_accuracies"]))
    assert 0.5 < nb["cv"]["accuracy_mean"] <= 1.0 and nb["val"] is not None  # the old fields still there
    assert json.loads((run.run_dir / "experiments/mlp/result.json").read_text())["cv"] is None
    assert run.result("nb").cv is not None and run.result("mlp").cv is None
    md = (run.run_dir / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Experiment |"))
    assert "| Test acc | CV acc |" in header
    nb_row = next(line for line in md.splitlines() if line.startswith("| nb |"))
    assert f"{run.result('nb').cv.mean * 100:.1f}% ± {run.result('nb').cv.std * 100:.1f}" in nb_row


def test_without_cv_folds_the_comparison_has_no_cv_column(tiny_run):
    md = (tiny_run.run_dir / "report.md").read_text()
    assert "CV acc" not in md and all(r.cv is None for r in tiny_run.results)


def test_cv_folds_keep_duplicate_groups_whole():
    """Each group is 5 identical images with its own random label: a 1-nearest-neighbour model scores
    100% when copies of a sample are in a fold's training part, chance when folds keep groups whole."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (60, 8, 8, 1), dtype=np.uint8)
    labels = rng.permutation(np.arange(60) % 2)
    data = Dataset("groups", np.repeat(base, 5, axis=0), np.repeat(labels, 5), ("a", "b"))
    splits = make_splits(data, DatasetSpec(source="digits", clean={"duplicates": "keep"}), None)
    exp = ExperimentSpec(name="nn1", model={"sklearn": "knn", "params": {"n_neighbors": 1}})
    cv = cross_validate(exp, splits, 5)
    assert cv.groups == len(np.unique(splits.groups[np.concatenate([splits.indices["train"], splits.indices["val"]])]))
    assert cv.samples == 5 * cv.groups and cv.mean < 0.75


def test_too_many_folds_for_the_data_is_caught_before_training(tiny_suite, tmp_path):
    tiny_suite["dataset"]["max_samples"] = 20
    tiny_suite["dataset"]["split"].update(cv_folds=20, val=0.2, test=0.2, stratify=False)
    tiny_suite["dataset"]["clean"] = {"near_distance": None}
    with pytest.raises(ConfigError, match="cv_folds: 20 folds need at least 20 samples .* there are 16"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    assert not (tmp_path / "tiny").exists()


def _imbalanced(n_major: int, n_minor: int, seed: int) -> Dataset:
    """Two overlapping Gaussian classes in 2-D, the second rare."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0.0, 1.0, (n_major, 2)), rng.normal(1.2, 1.0, (n_minor, 2))]).astype(np.float32)
    y = np.repeat([0, 1], [n_major, n_minor])
    return Dataset("imb", x, y, ("major", "minor"))


def _minority_recall(predict, data: Dataset) -> float:
    return float((predict(data.x)[data.y == 1] == 1).mean())


def test_balanced_class_weight_raises_minority_recall_of_a_network():
    train, test = _imbalanced(950, 50, seed=0), _imbalanced(500, 500, seed=1)
    recalls = {}
    for weight in (None, "balanced"):
        spec = TrainSpec(epochs=15, batch_size=100, optimizer={"name": "adam", "lr": 0.05}, class_weight=weight)
        model = fit(lambda: nn.Linear(2, 2), train, test, spec).model

        def predict(x, model=model):
            import torch

            with torch.no_grad():
                return model(torch.from_numpy(x)).argmax(1).numpy()

        recalls[weight] = _minority_recall(predict, test)
    assert recalls[None] < 0.3 and recalls["balanced"] > recalls[None] + 0.3


@pytest.mark.parametrize("name", ["logistic_regression", "naive_bayes"])
def test_balanced_class_weight_reaches_the_baselines(name, tmp_path):
    train, test = _imbalanced(950, 50, seed=0), _imbalanced(500, 500, seed=1)
    splits = make_splits(Dataset("imb", np.concatenate([train.x, test.x]), np.concatenate([train.y, test.y]),
                                 train.classes), DatasetSpec(source="digits"), None)
    splits = type(splits)(**{**splits.__dict__, "train": train, "val": test, "test": test})
    suite = suite_from_dict({"name": "s", "dataset": {"source": "digits"},
                             "experiments": [{"name": "b", "model": {"sklearn": name}}]})
    recalls = {}
    for weight in (None, "balanced"):
        exp = ExperimentSpec(name="b", model={"sklearn": name}, train={"class_weight": weight})
        _, predictor = train_experiment(exp, suite, splits, ExperimentDir(tmp_path / str(weight)), resume=False)
        recalls[weight] = _minority_recall(lambda x, p=predictor: p.predict_proba(x).argmax(1), test)
    assert recalls["balanced"] > recalls[None] + 0.2


def test_class_weight_on_a_model_without_weights_says_so(tiny_suite, tmp_path):
    from practica.data import prepare_data

    suite = suite_from_dict(tiny_suite)
    splits = prepare_data(suite.dataset)
    exp = ExperimentSpec(name="knn", model={"sklearn": "knn"}, train={"class_weight": "balanced"})
    trained, _ = train_experiment(exp, suite, splits, ExperimentDir(tmp_path / "knn"), resume=False)
    assert "class_weight: balanced does not apply (knn takes no weights)" in trained.model_summary
