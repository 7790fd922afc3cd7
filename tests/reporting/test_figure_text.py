"""The figures as a reader sees them: no two pieces of text on top of each other, none cut off at the
figure's edge, axes that zoom on what matters and label their scale.

Each figure is drawn for real (``plots.inspecting`` hands over the rendered matplotlib figure) and
every text artist's box is compared with every other's (``figcheck.text_problems``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from practica.evaluation.records import ClassificationMetrics
from practica.reporting import figcheck, plots
from practica.reporting import regression as reg
from practica.tasks import get_task
from practica.training.history import EpochRecord, History

ACCURACY = get_task("classification").metric("val_accuracy")
R2 = get_task("regression").metric("val_r2")


def drawn(draw: Callable[[], object]) -> list:
    """The matplotlib figures ``draw()`` renders (each still whole: inspected before it is cleared)."""
    seen: list = []

    def keep(fig) -> None:
        seen.append((figcheck.text_problems(fig), [ax.get_ylim() for ax in fig.axes],
                     [(ax.get_yscale(), [t.get_text() for t in ax.yaxis.get_majorticklabels()
                                         if ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]])
                      for ax in fig.axes]))

    with plots.inspecting(keep):
        draw()
    assert seen, "nothing was drawn"
    return seen


def no_text_problems(draw: Callable[[], object]) -> None:
    for problems, _, _ in drawn(draw):
        assert problems == []


def history(train_loss: list[float], val_loss: list[float], *, stop: str = "completed",
            best: int | None = None, max_epochs: int | None = None) -> History:
    n = len(train_loss)
    acc = np.linspace(0.3, 0.98, n)
    return History(tuple(EpochRecord(i + 1, train_loss[i], val_loss[i], 1e-3, 0.1,
                                     {"train_accuracy": float(acc[i]), "val_accuracy": float(acc[i]) - 0.02})
                         for i in range(n)), stop_reason=stop, best_epoch=best, max_epochs=max_epochs)


# ------------------------------------------------------------------- quality against speed

DIGITS_LIKE = [  # seven models, one of which never learned: the case that once squashed the axis to 0–100%
    plots.Point("dense", 0.16, 0.967), plots.Point("dense-small-data", 0.19, 0.922),
    plots.Point("tiny-lr", 0.16, 0.133), plots.Point("cnn", 0.35, 0.981),
    plots.Point("cnn-augmented", 0.27, 0.985, chosen=True), plots.Point("logistic-regression", 0.43, 0.967),
    plots.Point("random-forest", 5.2, 0.967),
]
PENGUINS_LIKE = [  # three at 100%, piled on the star, and an axis that once ran to 100.2%
    plots.Point("dense", 0.72, 1.0, chosen=True), plots.Point("logistic-regression", 0.89, 1.0),
    plots.Point("knn", 0.82, 1.0), plots.Point("decision-tree", 0.25, 0.986),
    plots.Point("random-forest", 26.0, 0.986),
]


@pytest.mark.parametrize("points, limit", [(DIGITS_LIKE, 20.0), (DIGITS_LIKE, None), (PENGUINS_LIKE, None),
                                           (PENGUINS_LIKE[:2], 1.0)], ids=["digits", "digits-no-limit",
                                                                           "penguins", "two"])
def test_comparison_labels_stand_clear(points, limit) -> None:
    no_text_problems(lambda: plots.comparison(points, metric=ACCURACY, latency_limit_ms=limit))


def test_comparison_zooms_on_the_good_models_and_never_passes_100_percent() -> None:
    [(_, [(bottom, top)], _)] = drawn(lambda: plots.comparison(DIGITS_LIKE, metric=ACCURACY))
    assert bottom > 0.8 and top <= 1.0  # tiny-lr (13%) is drawn at the edge, not given the axis
    [(_, [(_, top)], [(_, ticks)])] = drawn(lambda: plots.comparison(PENGUINS_LIKE, metric=ACCURACY))
    assert top <= 1.0
    assert len(set(ticks)) == len(ticks) >= 2  # distinct tick labels: no '99.2%' twice from rounding


def test_off_scale_needs_a_real_outlier() -> None:
    values = np.array([0.967, 0.922, 0.133, 0.981, 0.985])
    assert plots.off_scale(values, higher_is_better=True, share=True).tolist() == [False] * 2 + [True] + [False] * 2
    close = np.array([1.0, 1.0, 1.0, 0.986, 0.986])  # 1.4 points apart: all on the axis
    assert not plots.off_scale(close, higher_is_better=True, share=True).any()
    assert not plots.off_scale(np.array([0.9, 0.1]), higher_is_better=True, share=True).any()  # two: no outlier
    rmse = np.array([50.0, 52.0, 51.0, 400.0])  # lower is better: the far one is the largest
    assert plots.off_scale(rmse, higher_is_better=False, share=False).tolist() == [False, False, False, True]


def test_comparison_log_axis_has_two_labelled_ticks() -> None:
    points = [plots.Point("a", 0.21, 0.9, chosen=True), plots.Point("b", 0.32, 0.91), plots.Point("c", 0.45, 0.92)]
    seen: list = []
    with plots.inspecting(lambda fig: seen.extend(t.get_text() for t, _ in figcheck.visible_texts(fig)
                                                  if t in fig.axes[0].xaxis.get_majorticklabels())):
        plots.comparison(points, metric=ACCURACY)
    assert len(seen) >= 2


# ------------------------------------------------------------------- confusion matrix, curves


def test_confusion_matrix_with_long_names_keeps_its_title_whole() -> None:
    counts = ((29, 1, 0), (0, 14, 0), (1, 0, 24))
    metrics = ClassificationMetrics(accuracy=0.97, macro_f1=0.97, ece=0.02, per_class=(), confusion=counts)
    no_text_problems(lambda: plots.confusion_matrix(metrics, ("Adelie", "Chinstrap", "Gentoo"),
                                                    title="dense on the test split (69 samples)"))
    long = tuple(f"class-with-a-long-name-{i}" for i in range(10))
    ten = ClassificationMetrics(accuracy=0.9, macro_f1=0.9, ece=0.02, per_class=(),
                                confusion=tuple(tuple(30 if i == j else 0 for j in range(10)) for i in range(10)))
    no_text_problems(lambda: plots.confusion_matrix(ten, long, title="cnn-augmented on the test split (360 samples)"))


@pytest.mark.parametrize("classes", [("Adelie", "Chinstrap", "Gentoo"), tuple(str(d) for d in range(10)),
                                     ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                      "ship", "truck")], ids=["penguins", "digits", "cifar10"])
def test_class_counts_title_and_legend_stand_apart(classes: tuple[str, ...]) -> None:
    from practica.data.records import Dataset, Splits

    def part(n: int, name: str) -> Dataset:
        y = np.arange(n) % len(classes)
        return Dataset(name, np.zeros((n, 2), np.float32), y.astype(np.int64), classes)

    splits = Splits(part(206, "train"), part(69, "val"), part(69, "test"), {}, "", 0, False)
    no_text_problems(lambda: plots.class_counts(splits))


@pytest.mark.parametrize("run", [
    history([2.3, 1.0, 0.3, 0.05, 0.01, 0.002], [2.2, 1.1, 0.5, 0.4, 0.45, 0.5], best=4),
    history([2.3, 2.29, 2.28], [2.3, 2.3, 2.29], stop="early_stopping", best=2, max_epochs=60),
    history([2.0, 1.0, math.nan], [2.0, 1.2, math.nan], stop="diverged", best=2, max_epochs=10),
], ids=["log", "flat", "diverged"])
def test_learning_curves_text_stands_clear(run: History) -> None:
    no_text_problems(lambda: plots.learning_curves(run, title="a title that is fairly long, for the test"))


def test_one_loss_scale_for_every_run_of_a_suite() -> None:
    steep = history([2.3, 0.5, 0.05, 0.01], [2.2, 0.6, 0.2, 0.2])
    shallow = history([2.3, 1.2, 0.5, 0.2], [2.2, 1.2, 0.6, 0.3])  # 11×: linear on its own
    assert plots.wants_log_loss([steep, shallow]) and not plots.wants_log_loss([shallow])
    scales = {drawn(lambda r=r: plots.learning_curves(r, log_loss=plots.wants_log_loss([steep, shallow])))[0][2][0][0]
              for r in (steep, shallow)}
    assert scales == {"log"}


def test_a_log_loss_axis_labels_two_ticks_or_turns_linear() -> None:
    narrow = history([0.30, 0.25, 0.22, 0.2], [0.31, 0.27, 0.24, 0.22])  # well within one decade
    [(problems, _, [(scale, ticks), _])] = drawn(lambda: plots.learning_curves(narrow, log_loss=True))
    assert problems == []
    assert scale == "linear" or len(ticks) >= 2


def test_regression_curves_follow_the_same_rule() -> None:
    run = History(tuple(EpochRecord(i + 1, 1.0 / (i + 1) ** 2, 1.1 / (i + 1), 1e-3, 0.1,
                                    {"train_r2": 1 - 1.0 / (i + 1) ** 2, "val_r2": 1 - 1.1 / (i + 1)})
                        for i in range(8)))
    [(problems, _, [(scale, _), _])] = drawn(lambda: reg.learning_curves(run, log_loss=False))
    assert problems == [] and scale == "linear"


def test_the_checker_finds_what_it_looks_for() -> None:
    """The helper itself: text on text and text past the edge are found; rotated neighbours that stand
    clear (their upright boxes overlap, their rectangles do not) are not."""
    with plots.new_figure(3.0, 2.0) as (fig, _):
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "one label")
        ax.text(0.52, 0.5, "another label")
        ax.set_title("a title far too long to fit inside a figure three inches wide, by design")
        fig.canvas.draw()
        problems = figcheck.text_problems(fig)
    assert "'one label' overlaps 'another label'" in problems
    assert any("leaves the figure" in p for p in problems)
    with plots.new_figure(3.0, 2.0) as (fig, _):
        ax = fig.add_subplot()
        for i in range(3):
            ax.text(0.2 + 0.12 * i, 0.5, "automobile", rotation=40, rotation_mode="anchor")
        fig.canvas.draw()
        assert figcheck.text_problems(fig) == []
