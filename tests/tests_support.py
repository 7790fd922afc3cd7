"""Small suites shared by the pipeline and CLI tests."""

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
