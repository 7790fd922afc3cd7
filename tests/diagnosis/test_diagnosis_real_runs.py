"""The rules on real CIFAR-10 curves, recorded once and shipped as data.

Recorded on 2 CPU cores: 10,000 training and 5,000 validation images from the train folder of
/work/shared/data/cifar10-jpeg, batch 128, cross-entropy; "cnn" is three 3×3 conv blocks
(16-32-64 channels, max-pool) and a 256-unit dense layer; "aug" adds flips, 4-pixel crops and
dropout 0.3; "mlp" is 3072-256-10. Train loss and accuracy are epoch means with augmentation
on, as practica records them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from practica.diagnosis import DiagnosisContext, diagnose
from practica.training.history import HISTORY

RUNS = {
    name: HISTORY.validate_python(d)
    for name, d in json.loads((Path(__file__).parent / "real_cifar10_runs.json").read_text()).items()
}
BEST = max(RUNS, key=lambda name: max(RUNS[name].column("val_accuracy")))
SUITE = DiagnosisContext.for_classes(
    10, reference_accuracy=max(RUNS[BEST].column("val_accuracy")), reference_name=f"{BEST}, the suite's best"
)

# (run, how it was trained, every finding's verdict in order, phrases the top evidence must carry)
CASES = [
    ("cnn_noaug", "Adam 1e-3, 20 epochs, no augmentation", ["overfitting"],
     ["val loss lowest 1.17 at epoch 12", "over epochs 18–20", "nothing stopped the run"]),
    ("cnn_noaug_es", "the same, early stopping on val loss, patience 5", ["overfitting"],
     ["over epochs 14–16", "early stopping caught it", "the one from epoch 11"]),
    ("mlp", "Adam 1e-3, 20 epochs", ["overfitting"], ["val loss lowest 1.69 at epoch 3", "val accuracy held"]),
    ("cnn_aug", "Adam 1e-3, 20 epochs, augmentation and dropout", ["healthy"], ["no sign of overfitting"]),
    ("cnn_aug_cos", "the same under a cosine schedule from 2e-3", ["healthy"], ["no sign of overfitting"]),
    ("cnn_short", "the augmented CNN with a 6-epoch budget", ["undertrained", "underfitting"],
     ["6-epoch budget ended"]),
    ("cnn_cold", "SGD at 1e-6", ["underfitting"], ["train loss barely moved", "where chance is 10.0%"]),
    ("cnn_hot", "SGD at 0.5, stopped on the first NaN", ["diverged"], ["train loss was NaN from epoch 1"]),
]


def test_the_suites_best_is_the_cosine_run() -> None:
    assert BEST == "cnn_aug_cos"


@pytest.mark.parametrize(("name", "setup", "verdicts", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_real_run(name: str, setup: str, verdicts: list[str], phrases: list[str]) -> None:
    d = diagnose(RUNS[name], SUITE)
    assert [f.verdict for f in d.findings] == verdicts, (setup, d.summary)
    for phrase in phrases:
        assert phrase in d.findings[0].evidence, (phrase, d.findings[0].evidence)
