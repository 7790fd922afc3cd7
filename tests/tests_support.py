"""Small suites shared by the pipeline, CLI and config tests."""

from __future__ import annotations

import copy

TINY = {
    "name": "tiny",
    "dataset": {"source": "digits", "max_samples": 400, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "defaults": {"train": {"epochs": 3, "batch_size": 64}},
    "experiments": [
        {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [32]}}},
        {"name": "cnn", "model": {"layers": [{"conv": 8}, "relu", "maxpool", "flatten"]}, "augment": [{"crop": 1}],
         "train": {"early_stopping": {"patience": 2}}},
        {"name": "nb", "model": {"sklearn": "naive_bayes"}},
    ],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 20, "throughput_batch": 32},
}


def tiny_suite_dict() -> dict:
    return copy.deepcopy(TINY)


# The smallest valid suite, for config tests that change one value of it.
BASE = {
    "name": "t",
    "dataset": {"source": "digits"},
    "experiments": [{"name": "a", "model": {"arch": "mlp"}}],
}


def with_change(path: str, value) -> dict:
    """BASE with one value replaced; ``path`` like 'experiments.0.train'."""
    data = copy.deepcopy(BASE)
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[keys[-1]] = value
    return data
