"""The report of a regression: its figures (target distribution, learning curves in loss and R²,
predicted against actual values and the residuals) and the numbers its tables show.

``context.py`` asks here whenever the run's task is regression; nothing here computes a metric.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from practica.reporting import humanize as h
from practica.reporting.plots import (
    BLUE,
    GREY,
    INK,
    ORANGE,
    RED,
    SPLIT_COLOURS,
    finite_values,
    integer_epochs,
    legend_and_title,
    mark_best,
    mark_end,
    new_figure,
    readable_log_axis,
    wants_log_loss,
)

if TYPE_CHECKING:
    from practica.data.records import Splits
    from practica.evaluation.records import Evaluation, SplitMetrics
    from practica.tasks import Metric
    from practica.training.history import History

COMPARISON_NOTE = (
    "Validation figures decide; test figures are shown for the record only. R² is 1 − MSE / variance of the "
    "split's targets: 0 is no better than predicting their mean, 1 is perfect. RMSE and MAE are in the target's "
    "units (each experiment's MAE is in its section below); latency is one sample per call, p50 / p95 in ms; "
    "throughput is at the evaluation batch size. The best value of each column is in bold."
)
FIGURE_CAPTION = (
    "Left: each test sample's predicted value against its actual value (on the diagonal, a perfect prediction). "
    "Right: the residual (predicted − actual) against the prediction; a trend or a funnel shape is error the "
    "model could still learn."
)


def number(v: float | None) -> str:
    """A value in the target's units, 4 significant figures."""
    return h.DASH if v is None or not math.isfinite(v) else f"{v:.4g}"


def r2(v: float | None) -> str:
    return h.DASH if v is None or not math.isfinite(v) else f"{v:.3f}"


def headline(ev: Evaluation, metric: Metric) -> tuple[tuple[str, str], ...]:
    test = ev.test.regression
    return (
        (metric.label.capitalize(), metric.show(metric.value(ev.val))),
        ("Test R²", r2(test.r2)),
        ("Test RMSE", number(test.rmse)),
        ("Median latency", h.ms(ev.cost.latency_p50_ms)),
        ("Size", h.size(ev.cost.size_bytes)),
    )


def target_facts(splits: Splits) -> str:
    y = np.asarray(splits.train.y, dtype=float)
    if not len(y):
        return "a number (regression)"
    return (f"a number (regression): training targets {y.min():.4g} to {y.max():.4g}, mean {y.mean():.4g}, "
            f"std {y.std():.4g}")


def numbers(ev: Evaluation, train_seconds: float) -> list[tuple[str, str]]:
    val = ev.val.regression
    gap = ev.train - val.r2
    return [("Train R²", r2(ev.train)), ("Val R²", r2(val.r2)),
            ("Gap", f"{gap:.3f}" if math.isfinite(gap) else h.DASH),
            ("Val RMSE", number(val.rmse)), ("Val MAE", number(val.mae)), ("Train time", h.duration(train_seconds))]


def test_numbers(ev: Evaluation) -> tuple[tuple[str, str], ...]:
    t = ev.test.regression
    return (("Test R²", r2(t.r2)), ("Test RMSE", number(t.rmse)), ("Test MAE", number(t.mae)),
            ("Mean residual", number(t.residual_mean)), ("Largest error", number(t.max_abs_error)),
            ("Test samples", f"{ev.test.n:,}"))


def observations(ev: Evaluation) -> tuple[str, ...]:
    t = ev.test.regression
    notes = [f"Predicting the test split's mean would give RMSE {number(t.target_std)}; the model's is "
             f"{number(t.rmse)} ({100 * (1 - t.rmse / t.target_std):.0f}% lower)." if t.target_std > 0 else ""]
    if t.residual_std > 0 and abs(t.residual_mean) > 0.25 * t.residual_std:
        side = "over" if t.residual_mean > 0 else "under"
        notes.append(f"The model {side}-predicts on average by {number(abs(t.residual_mean))}: a bias worth a look.")
    return tuple(n for n in notes if n)


# --------------------------------------------------------------------------- figures


def target_histogram(splits: Splits) -> bytes:
    """The target's distribution in train, val and test (share of each split per bin)."""
    parts = (("train", splits.train), ("val", splits.val), ("test", splits.test))
    values = np.concatenate([np.asarray(ds.y, dtype=float) for _, ds in parts])
    edges = np.histogram_bin_edges(values, bins=min(30, max(5, len(values) // 15))) if len(values) else [0, 1]
    with new_figure(7.0, 2.9) as (fig, buf):
        ax = fig.add_subplot()
        for name, ds in parts:
            y = np.asarray(ds.y, dtype=float)
            if len(y):
                ax.hist(y, bins=edges, weights=np.full(len(y), 1 / len(y)), histtype="step", linewidth=1.8,
                        color=SPLIT_COLOURS[name], label=f"{name} ({len(y):,}, mean {y.mean():.4g})")
        ax.set_xlabel("target value")
        ax.set_ylabel("share of the split")
        ax.set_title("Target distribution")
        ax.legend(loc="upper right")
    return buf.getvalue()


def learning_curves(history: History, *, title: str = "", log_loss: bool | None = None) -> bytes:
    """Loss (MSE on the standardised target) and R² per epoch, train vs validation, kept epoch marked;
    ``log_loss`` as for ``plots.learning_curves``: the run's one rule for the loss axis."""
    epochs = np.array(history.column("epoch"), dtype=float)
    series = {k: finite_values(history.column(k)) for k in ("train_loss", "val_loss", "train_r2", "val_r2")}
    with new_figure(8.0, 3.0) as (fig, buf):
        loss_ax, r2_ax = fig.subplots(1, 2)
        for ax, metric, label in ((loss_ax, "loss", "Loss (MSE, standardised target)"), (r2_ax, "r2", "R²")):
            for split, colour in (("train", BLUE), ("val", ORANGE)):
                ax.plot(epochs, series[f"{split}_{metric}"], color=colour,
                        label="train" if split == "train" else "validation",
                        marker="o" if len(epochs) <= 12 else None, markersize=3)
            ax.set_title(label)
            ax.set_xlabel("epoch")
            integer_epochs(ax, epochs)
            mark_best(ax, history, epochs, series[f"val_{metric}"])
            mark_end(ax, history, epochs, series)
        loss_ax.axhline(1.0, color=GREY, linestyle="--", linewidth=1.0, zorder=1)
        loss_ax.text(0.99, 1.0, "predicting the mean", transform=loss_ax.get_yaxis_transform(), ha="right",
                     va="bottom", fontsize=8, color="#52606d")
        if wants_log_loss([history]) if log_loss is None else log_loss:
            loss_ax.set_yscale("log")
            readable_log_axis(loss_ax.yaxis)
        r2_ax.axhline(0.0, color=GREY, linestyle="--", linewidth=1.0, zorder=1)
        finite = np.concatenate([series["train_r2"], series["val_r2"]])
        finite = finite[np.isfinite(finite)]
        if len(finite):  # very negative early R² would squash the interesting part
            r2_ax.set_ylim(max(min(finite.min(), 0.0) - 0.05, -1.0), min(1.0, finite.max() + 0.08))
        legend_and_title(fig, loss_ax, history, title)
    return buf.getvalue()


def predicted_vs_actual(metrics: SplitMetrics, *, title: str) -> bytes:
    """Predicted against actual values (diagonal: perfect), and the residuals against the predictions.
    ``title`` names the points, e.g. "89 test samples"."""
    reg = metrics.regression
    actual, predicted = np.array(reg.actual, dtype=float), np.array(reg.predicted, dtype=float)
    residual = predicted - actual
    with new_figure(8.4, 3.7) as (fig, buf):
        scatter_ax, resid_ax = fig.subplots(1, 2)
        size = 14 if len(actual) > 300 else 22
        scatter_ax.scatter(actual, predicted, s=size, color=BLUE, alpha=0.65, linewidth=0)
        if len(actual):
            lo = float(min(actual.min(), predicted.min()))
            hi = float(max(actual.max(), predicted.max()))
            pad = 0.04 * (hi - lo or 1.0)
            scatter_ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=INK, linewidth=1.0, linestyle="--",
                            label="perfect")
            scatter_ax.set_xlim(lo - pad, hi + pad)
            scatter_ax.set_ylim(lo - pad, hi + pad)
            scatter_ax.set_aspect("equal", adjustable="box")
        scatter_ax.set_xlabel("actual")
        scatter_ax.set_ylabel("predicted")
        scatter_ax.set_title("Predicted vs actual")
        scatter_ax.text(0.03, 0.97, f"R² {r2(reg.r2)}, {title}", transform=scatter_ax.transAxes, va="top",
                        fontsize=8.5, color="#52606d")
        resid_ax.scatter(predicted, residual, s=size, color=ORANGE, alpha=0.65, linewidth=0)
        resid_ax.axhline(0.0, color=INK, linewidth=1.0, linestyle="--")
        if reg.residual_std > 0:
            for k in (-2, 2):
                resid_ax.axhline(reg.residual_mean + k * reg.residual_std, color=RED, linewidth=0.8, linestyle=":")
        resid_ax.set_xlabel("predicted")
        resid_ax.set_ylabel("residual (predicted − actual)")
        resid_ax.set_title("Residuals")
        resid_ax.text(0.03, 0.97, f"RMSE {number(reg.rmse)}; dotted: mean ± 2 std", transform=resid_ax.transAxes,
                      va="top", fontsize=8.5, color="#52606d")
    return buf.getvalue()
