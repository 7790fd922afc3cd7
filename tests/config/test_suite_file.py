"""The suite file: every mistake a user can make gives one clear ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from tests_support import BASE, with_change

from practica.config import load_suite, suite_from_dict
from practica.errors import ConfigError


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("experiments.0.model", {"arch": "resnet21"},
         ["experiments[0] (a).model", "resnet21", "Did you mean 'resnet20'"]),
        ("experiments.0.model", {"layers": [{"conv": 8}, "relux"]}, ["layers[1]", "unknown layer 'relux'", "relu"]),
        ("experiments.0.model", {"layers": [{"conv": {"filterz": 8}}]}, ["layers[0].conv", "filterz", "filters"]),
        ("experiments.0.model", {"layers": [{"relu": 3}]}, ["layers[0]", "takes no value"]),
        ("experiments.0.model", {"layers": [{"dropout": 1.5}]}, ["dropout.rate", "less than 1", "1.5"]),
        ("experiments.0.model", {"layers": []}, ["'layers' is empty"]),
        ("experiments.0.model", {"arch": "mlp", "sklearn": "knn"}, ["exactly one of", "arch, sklearn"]),
        ("experiments.0.model", {"sklearn": "svm"}, ["sklearn", "svm", "logistic_regression"]),
        ("experiments.0.model", {"sklearn": "knn", "params": {"n_neighbours": 3}}, ["n_neighbours", "n_neighbors"]),
        ("experiments.0.model", {"sklearn": "knn", "params": {"n_neighbors": -3}}, ["n_neighbors", "Got -3"]),
        ("experiments.0.model", {"arch": "mlp", "params": {"hiden": [8]}}, ["hiden", "hidden"]),
        ("experiments.0.train", {"optimzer": {"name": "adam"}}, ["train", "unknown key 'optimzer'", "optimizer"]),
        ("experiments.0.train", {"optimizer": {"name": "adamm"}},
         ["optimizer.name", "'sgd', 'adam' or 'adamw'", "adamm"]),
        ("experiments.0.train", {"optimizer": {"name": "adam", "lr": "fast"}}, ["optimizer.lr", "fast"]),
        ("experiments.0.train", {"optimizer": {"name": "adam", "lr": -1}}, ["optimizer.lr", "greater than 0"]),
        ("experiments.0.train", {"optimizer": {"name": "adam", "momentum": 0.9}}, ["momentum applies only to sgd"]),
        ("experiments.0.train", {"optimizer": {"name": "sgd", "momentum": 0, "nesterov": True}},
         ["nesterov needs momentum"]),
        ("experiments.0.train", {"schedule": {"name": "cosine", "gamma": 0.5}},
         ["schedule.gamma does not apply", "cosine"]),
        ("experiments.0.train", {"schedule": "warmup"}, ["schedule.name", "warmup"]),
        ("experiments.0.train", {"epochs": 5, "schedule": {"name": "step", "step_size": 10}},
         ["step_size (10) >= train.epochs (5)"]),
        ("experiments.0.train", {"epochs": 0}, ["train.epochs", "greater than 0"]),
        ("experiments.0.train", {"batch_size": "big"}, ["train.batch_size", "big"]),
        ("experiments.0.train", {"early_stopping": {"monitor": "val_accuracy", "mode": "min"}},
         ["mode 'min'", "mode: max"]),
        ("experiments.0.train", {"early_stopping": {"monitor": "accuracy"}}, ["early_stopping.monitor", "accuracy"]),
        ("experiments.0.augment", ["flip"], ["augment[0]", "unknown augmentation 'flip'", "hflip"]),
        ("experiments.0.augment", [{"hflip": {"alternate": True, "p": 0.3}}], ["augment[0]", "p (0.3) does not apply"]),
        ("experiments.0.name", "has space", ["experiment name 'has space'"]),
        ("experiments", [], ["experiments", "at least 1"]),
        ("experiments", [{"name": "a", "model": {"arch": "mlp"}}, {"name": "a", "model": {"arch": "mlp"}}],
         ["named 'a'", "unique"]),
        ("dataset", {"source": "folder"}, ["dataset", "needs a 'path'"]),
        ("dataset", {"source": "digits", "path": "x"}, ["takes no 'path'"]),
        ("dataset", {"source": "imagenet"}, ["dataset.source", "imagenet"]),
        ("dataset.split", {"val": 0.5, "test": 0.45}, ["leaves under 10%"]),
        ("selection", {"metric": "test_accuracy"}, ["selection.metric", "test_accuracy"]),
        ("selection", {"constraints": {"latency_ms": 3}}, ["constraints", "latency_ms", "latency_p95_ms"]),
        ("colour", "blue", ["unknown key 'colour'"]),
        ("defaults", {"train": {"epochs": -1}}, ["defaults.train.epochs"]),
        ("schema_version", 7, ["schema_version 7 is not supported"]),
    ],
)
def test_bad_suite_gives_one_clear_error(path, value, expected):
    with pytest.raises(ConfigError) as info:
        suite_from_dict(with_change(path, value))
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_defaults_merge_under_each_experiment():
    suite = suite_from_dict({
        **BASE,
        "defaults": {"train": {"epochs": 7, "optimizer": {"name": "adam", "lr": 0.01}}},
        "experiments": [
            {"name": "a", "model": {"arch": "mlp"}},
            {"name": "b", "model": {"arch": "mlp"}, "train": {"optimizer": {"lr": 0.5}}},
            {"name": "c", "model": {"arch": "mlp"}, "train": {"optimizer": {"name": "sgd", "momentum": 0.8}}},
        ],
    })
    a, b, c = suite.experiments
    assert (a.train.epochs, a.train.optimizer.lr) == (7, 0.01)
    assert (b.train.optimizer.name, b.train.optimizer.lr) == ("adam", 0.5)
    # Another optimizer replaces the default one instead of inheriting adam's lr.
    assert (c.train.optimizer.name, c.train.optimizer.momentum, c.train.optimizer.lr) == ("sgd", 0.8, 1e-3)
    assert c.train.epochs == 7


def test_augment_inherits_and_overrides():
    suite = suite_from_dict({
        **BASE,
        "augment": ["hflip", {"crop": 2}],
        "experiments": [
            {"name": "a", "model": {"arch": "mlp"}},
            {"name": "b", "model": {"arch": "mlp"}, "augment": []},
        ],
    })
    assert [a.type for a in suite.augment_for(suite.experiments[0])] == ["hflip", "crop"]
    assert suite.augment_for(suite.experiments[1]) == []


def test_suite_is_frozen():
    suite = suite_from_dict(BASE)
    with pytest.raises(ValidationError):  # pydantic's frozen_instance error
        suite.name = "other"  # type: ignore[misc]


def test_paths_resolve_against_the_suite_file(tmp_path):
    (tmp_path / "cases").mkdir()
    f = tmp_path / "cases" / "s.yaml"
    f.write_text("name: s\ndataset: {source: folder, path: ../data/train, test: {source: folder, path: ../data/test}}\n"
                 "experiments: [{name: a, model: {arch: mlp}}]\n")
    suite = load_suite(f)
    assert suite.dataset.path == (tmp_path / "data" / "train").resolve()
    assert suite.dataset.test.path == (tmp_path / "data" / "test").resolve()


@pytest.mark.parametrize(
    "content, expected",
    [
        ("name: x\n  bad: [indent\n", "not valid YAML at line"),
        ("- just\n- a list\n", "a suite file is a mapping"),
        ("", "a suite file is a mapping"),
    ],
)
def test_unreadable_suite_files(tmp_path, content, expected):
    f = tmp_path / "s.yaml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_suite(f)


def test_missing_suite_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="it is a folder"):
        load_suite(tmp_path)


def test_binary_file_is_refused(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ConfigError):
        load_suite(f)


EXAMPLES = sorted(p.name for p in (Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_shipped_examples_are_valid(name):
    suite = load_suite(Path(__file__).parents[2] / "examples" / name)
    assert suite.experiments


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_round_trips_through_its_resolved_form(name):
    import yaml

    from practica.pipeline.rundir import resolved_yaml

    suite = load_suite(Path(__file__).parents[2] / "examples" / name)
    assert suite_from_dict(yaml.safe_load(resolved_yaml(suite))) == suite


def test_resolved_suite_round_trips():
    import yaml

    from practica.pipeline.rundir import resolved_yaml

    suite = load_suite(Path(__file__).parents[2] / "examples" / "cifar10.yaml")
    again = suite_from_dict(yaml.safe_load(resolved_yaml(suite)))
    assert again == suite
