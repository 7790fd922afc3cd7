"""The figures: PNG bytes for ordinary and awkward inputs, and matplotlib's global state left alone."""

from __future__ import annotations

import io
import math
import sys

import matplotlib
import numpy as np
import pytest

from practica.data.records import Dataset
from practica.evaluation.records import ClassificationMetrics
from practica.reporting import plots
from practica.tasks import get_task
from practica.training.history import EpochRecord, History

ACCURACY = get_task("classification").metric("val_accuracy")

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    assert png[:8] == PNG
    return Image.open(io.BytesIO(png)).size


def run(losses: list[float], accs: list[float] | None = None, **kw) -> History:
    accs = accs or [0.5] * len(losses)
    return History(tuple(EpochRecord(i + 1, loss, loss, 1e-3, 1.0, {"train_accuracy": acc, "val_accuracy": acc})
                         for i, (loss, acc) in enumerate(zip(losses, accs, strict=True))), **kw)


# The ordinary cases (completed, early stopping) are drawn by the report tests.
@pytest.mark.parametrize("history", [
    run([2.0, 1.0, math.nan, math.nan], stop_reason="diverged", best_epoch=2),
    run([2.0, math.inf, -math.inf], stop_reason="diverged", best_epoch=7),  # best outside the history: no marker
    run([math.nan, math.nan], [math.nan, math.nan], stop_reason="diverged"),
    run([1.0], best_epoch=1),
], ids=["nan", "inf", "all-nan", "one-epoch"])
def test_learning_curves_draw_any_history(history: History) -> None:
    width, height = size(plots.learning_curves(history, title="x"))
    assert width > height > 200


def test_sample_grid_upscales_small_images_and_skips_features() -> None:
    rng = np.random.default_rng(0)
    gray = Dataset("d", rng.integers(0, 255, (30, 8, 8, 1), dtype=np.uint8), np.arange(30) % 3, ("a", "b", "c"))
    rgb = Dataset("d", rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8), np.zeros(12, np.int64), ("cat", "dog"))
    table = Dataset("t", rng.normal(size=(10, 4)).astype(np.float32), np.zeros(10, np.int64), ("a",))
    assert size(plots.sample_grid(gray))[0] > 8 * 8 * 4  # 8 tiles of 8 px, upscaled
    assert size(plots.sample_grid(rgb))[1] > 64  # "dog" has no sample and still gets its row
    assert plots.sample_grid(table) is None


def test_confusion_matrix_handles_ten_long_names_and_empty_rows() -> None:
    counts = np.eye(10, dtype=int) * 30
    counts[3] = 0
    names = tuple(f"class-with-a-long-name-{i}" for i in range(10))
    metrics = ClassificationMetrics(accuracy=0.9, macro_f1=0.9, ece=0.02, per_class=(),
                                    confusion=tuple(tuple(int(v) for v in r) for r in counts))
    width, height = size(plots.confusion_matrix(metrics, names))
    assert width > 500 and height > 500


def test_comparison_needs_a_finite_point() -> None:
    assert plots.comparison([], metric=ACCURACY) is None
    assert plots.comparison([plots.Point("a", math.nan, 0.9)], metric=ACCURACY) is None
    points = [plots.Point("a", 0.0, 0.9, chosen=True), plots.Point("b", 12.0, 0.91, rejected=True)]
    assert size(plots.comparison(points, metric=ACCURACY, latency_limit_ms=5))[0] > 500
    assert size(plots.comparison(points[:1], metric=get_task("classification").metric("val_loss")))[0] > 500


def test_figures_leave_matplotlib_global_state_alone() -> None:
    before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plots.learning_curves(run([2.0, 1.0]))
    plots.comparison([plots.Point("a", 1.0, 0.9)], metric=ACCURACY)
    assert (matplotlib.get_backend(), dict(matplotlib.rcParams)) == before
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
