"""The report's figures, each returned as PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` directly, never through ``pyplot``: no
backend is selected and no figure is registered anywhere, so importing or calling this module
leaves matplotlib's global state as it was (the house style is applied inside ``rc_context``
for the duration of one figure). PNG output goes through the Agg canvas.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from practica.data.records import Dataset, Splits
    from practica.evaluation.records import ClassificationMetrics, Interval
    from practica.tasks import Metric
    from practica.training.history import History

# One palette for the whole report (Tableau-like, readable on white and for most colour-blind readers).
BLUE, ORANGE, GREEN, RED, GREY, INK = "#2f6db5", "#e07b24", "#2e8b57", "#c0392b", "#9aa3ad", "#1f2933"
SPLIT_COLOURS = {"train": BLUE, "val": ORANGE, "test": GREEN}

_STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#c5ccd3",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e9ed",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "lines.linewidth": 1.8,
}
DPI = 144


@contextmanager
def new_figure(width: float, height: float) -> Iterator[tuple]:
    """Yield ``(figure, buffer)``; on exit the figure is rendered to PNG into the buffer and cleared."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with rc_context(_STYLE):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        try:
            yield fig, buf
            fig.savefig(buf, format="png", dpi=DPI)
        finally:
            fig.clear()


# --------------------------------------------------------------------------- data


def class_counts(splits: Splits) -> bytes:
    """Grouped bars: samples per class in train, val and test."""
    from matplotlib.ticker import MaxNLocator

    classes = splits.classes
    counts = {name: np.bincount(ds.y, minlength=len(classes)) for name, ds in
              (("train", splits.train), ("val", splits.val), ("test", splits.test))}
    n = len(classes)
    width = min(8.0, max(5.0, 0.55 * n + 2.0))
    with new_figure(width, 2.9) as (fig, buf):
        ax = fig.add_subplot()
        x = np.arange(n)
        bar = 0.8 / 3
        for i, (split, values) in enumerate(counts.items()):
            ax.bar(x + (i - 1) * bar, values, bar, label=f"{split} ({int(values.sum()):,})",
                   color=SPLIT_COLOURS[split], linewidth=0)
        labels = [shorten(c, 14) for c in classes]
        crowded = sum(len(t) + 2 for t in labels) > 60  # CIFAR-10's names (70) already touch
        if n <= 40:
            ax.set_xticks(x, labels, rotation=40 if crowded else 0, ha="right" if crowded else "center")
        else:  # too many to name; the reader still sees the balance
            ax.set_xlabel(f"{n} classes, in label order")
            ax.set_xticks([])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.6, n - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("samples")
        ax.set_title("Samples per class")
        ax.legend(ncols=3, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    return buf.getvalue()


def sample_grid(dataset: Dataset, *, per_class: int = 8, max_classes: int = 20, seed: int = 0) -> bytes | None:
    """A few images per class, one row per class; ``None`` for feature tables.

    Tiles are upscaled by whole pixels (nearest) so that 8×8 digits stay legible.
    """
    if dataset.kind != "image" or len(dataset) == 0:
        return None
    rng = np.random.default_rng(seed)
    _, h, w, c = dataset.x.shape
    scale = max(1, math.ceil(40 / max(h, w)))
    th, tw, pad = h * scale, w * scale, max(2, scale)
    classes = dataset.classes[:max_classes]
    mosaic = np.full((len(classes) * (th + pad) + pad, per_class * (tw + pad) + pad, 3), 255, np.uint8)
    for row, _name in enumerate(classes):
        members = np.flatnonzero(dataset.y == row)
        picks: np.ndarray | list[int] = (
            rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        )
        for col, i in enumerate(sorted(picks)):
            tile = dataset.x[i]
            tile = np.repeat(tile, 3, axis=2) if c == 1 else tile[..., :3]
            tile = tile.repeat(scale, axis=0).repeat(scale, axis=1)
            top, left = pad + row * (th + pad), pad + col * (tw + pad)
            mosaic[top:top + th, left:left + tw] = tile
    height_px, width_px = mosaic.shape[:2]
    label_in = 1.3
    fig_w = width_px / DPI * 1.4 + label_in
    fig_h = height_px / DPI * 1.4 + 0.45
    with new_figure(fig_w, fig_h) as (fig, buf):
        ax = fig.add_subplot()
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_yticks([pad + r * (th + pad) + th / 2 for r in range(len(classes))],
                      [shorten(n, 16) for n in classes])
        ax.set_xticks([])
        ax.tick_params(axis="y", length=0)
        ax.grid(False)
        for side in ax.spines.values():
            side.set_visible(False)
        shown = (f" (first {max_classes} of {len(dataset.classes)} classes)"
                 if len(dataset.classes) > max_classes else "")
        ax.set_title(f"Training samples, {h}×{w}{' RGB' if c == 3 else ' grayscale'}{shown}")
    return buf.getvalue()


# ----------------------------------------------------------------------- training


def learning_curves(history: History, *, title: str = "") -> bytes:
    """Loss and accuracy per epoch, train vs validation, with the kept epoch marked.

    Non-finite values (a diverged run) are left out of the lines; the epoch where the run
    diverged gets a red band, and early stopping a note.
    """
    epochs = np.array(history.column("epoch"), dtype=float)
    series = {k: finite_values(history.column(k)) for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")}
    with new_figure(8.0, 3.0) as (fig, buf):
        loss_ax, acc_ax = fig.subplots(1, 2)
        for ax, metric, label in ((loss_ax, "loss", "Loss"), (acc_ax, "accuracy", "Accuracy")):
            for split, colour in (("train", BLUE), ("val", ORANGE)):
                values = series[f"{split}_{metric}"]
                ax.plot(epochs, values, color=colour, label="train" if split == "train" else "validation",
                        marker="o" if len(epochs) <= 12 else None, markersize=3)
            ax.set_title(label)
            ax.set_xlabel("epoch")
            integer_epochs(ax, epochs)
            mark_best(ax, history, epochs, series[f"val_{metric}"])
            mark_end(ax, history, epochs, series)
        if wide_range(series["train_loss"], series["val_loss"]):
            loss_ax.set_yscale("log")
            plain_log_ticks(loss_ax.yaxis)
            loss_ax.set_title("Loss (log scale)")
        acc_ax.yaxis.set_major_formatter(_percent_formatter())
        legend_and_title(fig, loss_ax, history, title)
    return buf.getvalue()


def finite_values(values: Sequence[float]) -> np.ndarray:
    arr = np.array(values, dtype=float)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def wide_range(*arrays: np.ndarray) -> bool:
    values = np.concatenate(arrays)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > 20


def integer_epochs(ax, epochs: np.ndarray) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    if len(epochs):
        ax.set_xlim(epochs.min() - 0.3, epochs.max() + 0.3)


def mark_best(ax, history: History, epochs: np.ndarray, val: np.ndarray) -> None:
    best = history.best_epoch
    if best is None or best not in epochs:
        return
    i = int(np.flatnonzero(epochs == best)[0])
    ax.axvline(best, color=GREY, linestyle=":", linewidth=1.1, zorder=1)
    if np.isfinite(val[i]):
        ax.plot([best], [val[i]], marker="*", markersize=11, color=ORANGE, markeredgecolor="white",
                markeredgewidth=0.8, zorder=5, linestyle="none", label=f"kept (epoch {best})")


def mark_end(ax, history: History, epochs: np.ndarray, series: dict[str, np.ndarray]) -> None:
    if history.stop_reason != "diverged" or not len(epochs):
        return
    bad = np.zeros(len(epochs), bool)
    for values in series.values():
        bad |= np.isnan(values)
    at = float(epochs[np.flatnonzero(bad)[0]]) if bad.any() else float(epochs[-1])
    ax.axvspan(at - 0.5, epochs.max() + 0.3, color=RED, alpha=0.08, linewidth=0, zorder=0)
    ax.text(at - 0.4, 0.97, "diverged", transform=ax.get_xaxis_transform(), color=RED, fontsize=8.5,
            va="top", ha="left", fontweight="bold")


def legend_and_title(fig, loss_ax, history, title: str | None) -> None:
    """A learning-curve figure's shared legend (from the loss axes) and its title with the end note."""
    handles, labels = loss_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncols=len(labels))
    note = _end_note(history)
    if title or note:
        fig.suptitle("   ".join(p for p in (title, note) if p), x=0.01, y=0.985, ha="left", va="top",
                     fontsize=9, color="#52606d", fontweight="normal")


def _end_note(history: History) -> str:
    n = len(history.epochs)
    if history.stop_reason == "early_stopping":
        kept = f", kept epoch {history.best_epoch}" if history.best_epoch else ""
        return f"Early stopping after epoch {n} of {history.max_epochs or n}{kept}."
    if history.stop_reason == "diverged":
        return f"Diverged: stopped after epoch {n}{' of ' + str(history.max_epochs) if history.max_epochs else ''}."
    return f"Ran all {n} epochs." if n else "No epochs."


def plain_log_ticks(axis) -> None:
    """Label a log axis 0.1, 1, 10 rather than 10⁻¹, 10⁰, 10¹."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v * 100:.0f}%")


# --------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Point:
    """One evaluated experiment on the comparison plot."""

    name: str
    latency_ms: float
    value: float
    chosen: bool = False
    rejected: bool = False
    value_interval: Interval | None = None  # drawn as error bars
    latency_interval: Interval | None = None


def _label_offsets(xs: np.ndarray, ys: np.ndarray, step: float = 11.0) -> list[float]:
    """Vertical offsets (points) for the labels of points at ``xs`` (log scale) and ``ys``: a label
    that would print over one already placed (close in both directions) moves down a line."""
    u = np.log10(xs)
    u = (u - u.min()) / ((u.max() - u.min()) or 1.0)
    v = (ys - ys.min()) / (float(ys.max() - ys.min()) or 1.0)
    offsets = [5.0] * len(xs)
    placed: list[tuple[float, float]] = []  # (u, v - lines) of each label placed
    for i in np.argsort(-v, kind="stable"):
        lines = 0
        while any(abs(u[i] - pu) < 0.2 and abs((v[i] - 0.07 * lines) - pv) < 0.06 for pu, pv in placed):
            lines += 1
        placed.append((u[i], v[i] - 0.07 * lines))
        offsets[i] = 5.0 - step * lines
    return offsets


def comparison(points: Sequence[Point], *, metric: Metric, latency_limit_ms: float | None = None) -> bytes | None:
    """Validation metric against batch-1 p95 latency (log x), with their intervals as error bars; the chosen
    model highlighted."""
    points = [p for p in points if math.isfinite(p.value) and math.isfinite(p.latency_ms)]
    if not points:
        return None
    with new_figure(7.6, 3.6) as (fig, buf):
        ax = fig.add_subplot()
        xs = np.array([max(p.latency_ms, 1e-3) for p in points])
        ys = np.array([p.value for p in points])
        for p, x, y, dy in zip(points, xs, ys, _label_offsets(xs, ys), strict=True):
            colour = GREEN if p.chosen else GREY if p.rejected else BLUE
            _error_bars(ax, p, x, y, colour)
            ax.scatter([x], [y], s=150 if p.chosen else 55, color=colour, zorder=4,
                       edgecolor="white" if not p.chosen else INK, linewidth=1.2 if p.chosen else 0.8,
                       marker="*" if p.chosen else "o")
            ax.annotate(p.name + (" (chosen)" if p.chosen else ""), (x, y), xytext=(7, dy),
                        textcoords="offset points", fontsize=8.5, color=INK if not p.rejected else "#52606d",
                        fontweight="bold" if p.chosen else "normal", zorder=5)
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        lo, hi = xs.min(), xs.max()
        if latency_limit_ms:
            hi = max(hi, latency_limit_ms)
            lo = min(lo, latency_limit_ms)
            ax.axvline(latency_limit_ms, color=RED, linestyle="--", linewidth=1.1, zorder=2)
            ax.text(latency_limit_ms, 0.02, f" p95 limit {latency_limit_ms:g} ms", color=RED, fontsize=8,
                    transform=ax.get_xaxis_transform(), va="bottom")
        ax.set_xlim(lo / 1.8, hi * 3.2)  # room on the right for the labels
        ends = np.array([*ys, *(v for p in points if p.value_interval is not None
                                for v in (p.value_interval.low, p.value_interval.high) if math.isfinite(v))])
        span = float(ends.max() - ends.min()) or abs(float(ends.max())) * 0.05 or 0.05
        ax.set_ylim(ends.min() - 0.12 * span, ends.max() + 0.18 * span)
        ax.set_xlabel("p95 latency, one sample per call (ms, log scale)")
        ax.set_ylabel(metric.label + ("" if metric.higher_is_better else " (lower is better)"))
        if metric.share:
            ax.yaxis.set_major_formatter(_percent_formatter() if span > 0.02 else _fine_percent_formatter())
        ax.set_title("Quality against speed")
    return buf.getvalue()


def _error_bars(ax, p: Point, x: float, y: float, colour: str) -> None:
    """The point's confidence intervals, as far as they are known: the metric's (vertical), the latency's."""
    def spread(interval: Interval | None, centre: float) -> list[list[float]] | None:
        if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            return None
        return [[max(centre - interval.low, 0.0)], [max(interval.high - centre, 0.0)]]

    yerr, xerr = spread(p.value_interval, p.value), spread(p.latency_interval, p.latency_ms)
    if yerr is not None or xerr is not None:
        ax.errorbar([x], [y], yerr=yerr, xerr=xerr, fmt="none", ecolor=colour, elinewidth=1.0, capsize=2.5,
                    alpha=0.7, zorder=3)


def _fine_percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v * 100:.1f}%")


# ------------------------------------------------------------------------ errors


def confusion_matrix(metrics: ClassificationMetrics, classes: Sequence[str], *,
                     title: str = "Confusion matrix") -> bytes:
    """Counts in the cells, colour by share of the true class (row-normalised)."""
    counts = np.array(metrics.confusion, dtype=float)
    n = len(counts)
    names = list(classes) if len(classes) == n else [str(i) for i in range(n)]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    side = min(7.5, max(3.2, 0.36 * n + 1.4))
    with new_figure(side + 1.0, side) as (fig, buf):
        ax = fig.add_subplot()
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.grid(False)
        for side_name in ("top", "right", "bottom", "left"):
            ax.spines[side_name].set_visible(False)
        small = n > 12
        for i in range(n if n <= 30 else 0):  # past 30 classes the colours speak alone
            for j in range(n):
                if counts[i, j] == 0 and small:
                    continue
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        fontsize=6.5 if small else 8.5,
                        color="white" if share[i, j] > 0.55 else (INK if counts[i, j] else "#b8c0c8"))
        labels = [shorten(s, 14) for s in names]
        if n > 40:
            labels = [label if i % 5 == 0 else "" for i, label in enumerate(labels)]
        ax.set_xticks(range(n), labels, rotation=45 if max(map(len, labels)) > 2 else 0,
                      ha="right" if max(map(len, labels)) > 2 else "center")
        ax.set_yticks(range(n), labels)
        ax.tick_params(length=0)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
        bar = fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02)
        bar.outline.set_visible(False)
        bar.ax.yaxis.set_major_formatter(_percent_formatter())
        bar.set_label("share of the true class", fontsize=8.5)
    return buf.getvalue()


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
