"""The tune: block: every path and range checked when the suite loads, before any data or training."""

from __future__ import annotations

import copy

import pytest
import yaml

from practica.config import suite_from_dict
from practica.config.tune import resolve
from practica.errors import ConfigError
from practica.pipeline.rundir import resolved_yaml

SUITE = {
    "name": "t",
    "dataset": {"source": "digits"},
    "augment": [{"crop": 1}],
    "experiments": [{"name": "cnn", "model": {"layers": [{"conv": 8}, "relu", "flatten"]}, "train": {"epochs": 3}},
                    {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [32]}}}],
}


def with_tune(tune: dict, experiment: int = 0) -> dict:
    data = copy.deepcopy(SUITE)
    data["experiments"][experiment]["tune"] = tune
    return data


def test_a_space_over_model_training_and_augmentation_loads():
    suite = suite_from_dict(with_tune({"space": {
        "train.optimizer.lr": {"float": [1e-4, 1e-1], "log": True},
        "train.epochs": {"int": [2, 5]},
        "model.layers.0.filters": {"choice": [4, 8]},
        "model.layers.conv.kernel": {"choice": [3, 5]},
        "augment.crop.padding": {"int": [1, 3]},
    }}))
    tune = suite.experiments[0].tune
    assert tune is not None and tune.sampler_name == "tpe" and tune.pruner_spec.name == "median"
    exp = resolve(suite.experiments[0], list(suite.augment), {"model.layers.conv.kernel": 5,
                                                              "augment.crop.padding": 2, "train.epochs": 4})
    assert exp.model.layers[0].kernel == 5 and exp.augment[0].padding == 2 and exp.train.epochs == 4
    assert exp.tune is None


def test_arch_params_are_paths_too():
    suite = suite_from_dict(with_tune({"space": {"model.params.hidden": {"choice": [[16], [64, 32]]}}}, 1))
    exp = resolve(suite.experiments[1], [], {"model.params.hidden": [64, 32]}, name="mlp-trial-3")
    assert exp.model.params == {"hidden": [64, 32]} and exp.name == "mlp-trial-3"


@pytest.mark.parametrize(("space", "expected"), [
    ({"train.optimizer.lrr": {"float": [1e-4, 1e-1]}},
     "unknown path 'train.optimizer.lrr': 'lrr' is not a field of train.optimizer. Nearest valid paths: "
     "train.optimizer.lr"),
    ({"train.optimiser.lr": {"float": [1e-4, 1e-1]}}, "'optimiser' is not a field of train. Nearest valid paths: "
                                                       "train.optimizer.lr"),
    ({"model.layers.7.filters": {"int": [4, 16]}}, "'7' picks no entry of model.layers (its entries: conv, relu, "
                                                   "flatten"),
    ({"train.epochs.x": {"int": [4, 16]}}, "train.epochs is a value, not a section with fields"),
    ({"train.epochs": {"float": [1.5, 3]}}, "train.epochs = 1.5 (an end of its range) makes the experiment invalid: "
                                            "train.epochs: Input should be a valid integer"),
    ({"model.params.hidden": {"choice": [[8], [16]]}}, "'params' applies to 'arch' and 'sklearn' models"),
    ({"train.optimizer.lr": {"float": [0.1, 0.01]}}, "the range [0.1, 0.01] is empty"),
    ({"train.optimizer.lr": {"float": [0, 0.1], "log": True}}, "log: true needs a range above 0"),
    ({"train.epochs": {"int": [1, 3], "choice": [1, 2]}}, "exactly one of float, int and choice (got int, choice)"),
    ({"train.epochs": {"choice": [3]}}, "choice lists one value"),
    ({"train.epochs": {"range": [1, 3]}}, "unknown key 'range'"),
])
def test_a_bad_space_is_an_error_naming_the_path(space, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(with_tune({"space": space}))
    assert "experiments[0] (cnn).tune" in str(err.value)
    assert expected in str(err.value)


@pytest.mark.parametrize(("tune", "expected"), [
    ({"objective": ["val_accuracy", "latency"], "pruner": "median"}, "Optuna prunes single-objective studies only"),
    ({"objective": ["val_accuracy", "speed"]}, "the second objective 'speed' is not a cost"),
    ({"objective": ["latency", "val_accuracy"]}, "the first objective is a validation metric"),
    ({"objective": "val_r2"}, "tune.objective 'val_r2' is not a classification metric"),
    ({"budget": {"trials": None}}, "budget needs trials or minutes"),
    ({"sampler": "grid"}, "sampler"),
])
def test_a_bad_objective_budget_or_search_is_an_error(tune, expected):
    with pytest.raises(ConfigError, match="tune") as err:
        suite_from_dict(with_tune({"space": {"train.epochs": {"int": [2, 4]}}, **tune}))
    assert expected in str(err.value)


def test_two_objectives_default_to_nsga2_without_pruning():
    suite = suite_from_dict(with_tune({"space": {"train.epochs": {"int": [2, 4]}},
                                       "objective": ["val_accuracy", "size"]}))
    tune = suite.experiments[0].tune
    assert tune.objectives("val_accuracy") == ("val_accuracy", "size_mb")
    assert (tune.sampler_name, tune.pruner_spec.name) == ("nsga2", "none")


def test_a_suite_without_tune_resolves_as_before_and_a_tuned_one_round_trips():
    assert "tune" not in resolved_yaml(suite_from_dict(copy.deepcopy(SUITE)))
    suite = suite_from_dict(with_tune({"space": {"train.optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}}))
    again = suite_from_dict(yaml.safe_load(resolved_yaml(suite)))
    assert again == suite


@pytest.mark.parametrize(("experiment", "expected"), [
    ("mlp", "has no tune: block in experiment 'mlp'; its experiments with a tune: block are: cnn"),
    ("rnn", "has no experiment named 'rnn'"),
    (None, None),
])
def test_the_experiment_to_tune_must_have_a_tune_block(experiment, expected):
    from practica.tuning.run import tuned_names

    suite = suite_from_dict(with_tune({"space": {"train.epochs": {"int": [2, 4]}}}))
    if expected is None:
        assert [e.name for e in tuned_names(suite, experiment)] == ["cnn"]
        with pytest.raises(ConfigError, match="has no experiment with a tune: block"):
            tuned_names(suite_from_dict(copy.deepcopy(SUITE)), None)
    else:
        with pytest.raises(ConfigError, match=expected):
            tuned_names(suite, experiment)
