"""The report's figures, each returned as PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` directly, never through ``pyplot``: no
backend is selected and no figure is registered anywhere, so importing or calling this module
leaves matplotlib's global state as it was (the house style is applied inside ``rc_context``
for the duration of one figure). PNG output goes through the Agg canvas.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
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


def png_src(png: bytes) -> str:
    """A PNG as an ``<img src>``: a data URI, so that a page is one self-contained file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def css_width(png: bytes) -> int:
    """A figure's display width in CSS pixels: the same scale for every figure (one figure inch is 1.15
    CSS inches, 110 px), so their text shows at one size whatever the figure's size."""
    width = int.from_bytes(png[16:20], "big")  # from the PNG's IHDR chunk
    return round(width * 110 / DPI)

# Called with each figure once it is drawn, before it is cleared: how the tests look at the text of a
# figure the report really draws (``figcheck.text_problems``).
_INSPECTOR: ContextVar[Callable[[Figure], None] | None] = ContextVar("figure_inspector", default=None)


@contextmanager
def inspecting(callback: Callable[[Figure], None]) -> Iterator[None]:
    """Within the block, every figure this module draws is handed to ``callback`` once rendered."""
    token = _INSPECTOR.set(callback)
    try:
        yield
    finally:
        _INSPECTOR.reset(token)


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
            inspector = _INSPECTOR.get()
            if inspector is not None:
                inspector(fig)
        finally:
            fig.clear()


def freeze_layout(fig) -> None:
    """Run the constrained layout once and keep it: text placed afterwards (labels moved off each
    other) is measured against the axes where they will be drawn."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def wrapped(fig, text: str, fontsize: float) -> str:
    """``text`` broken into lines no wider than ``fig`` (an average DejaVu Sans character is about
    0.6 of the font size wide), so a long title is never cut off at the figure's edge."""
    chars = max(12, int(fig.get_figwidth() * 72 / (0.62 * fontsize)) - 2)
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


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
        # Below the axes: above them it shares the title's row, and a narrow figure puts one on the other.
        handles, labels_ = ax.get_legend_handles_labels()
        fig.legend(handles, labels_, ncols=3, loc="outside lower center")
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


def learning_curves(history: History, *, title: str = "", log_loss: bool | None = None) -> bytes:
    """Loss and accuracy per epoch, train vs validation, with the kept epoch marked.

    Non-finite values (a diverged run) are left out of the lines; the epoch where the run
    diverged gets a red band, and early stopping a note. ``log_loss``: the run's one rule for the
    loss axis (``wants_log_loss`` over all its histories); None decides from this history alone.
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
        if wants_log_loss([history]) if log_loss is None else log_loss:
            loss_ax.set_yscale("log")
            if readable_log_axis(loss_ax.yaxis):
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


def wants_log_loss(histories: Sequence[History]) -> bool:
    """One rule for every loss axis of a run: log when any run's losses span more than 20× (a
    model that trains to near-zero loss), else linear; two near-identical models never get
    different scales."""
    return any(wide_range(finite_values(h.column("train_loss")), finite_values(h.column("val_loss")))
               for h in histories if h.epochs)


def readable_log_axis(axis) -> bool:
    """Label a log axis at two ticks or more, plainly (0.1, 0.2, 0.5, 1 rather than 10⁻¹): decades,
    else 1-2-5 steps, else every digit; an axis spanning too little for two turns linear. False when
    it did."""
    from matplotlib.ticker import LogLocator, NullFormatter

    axis.axes.autoscale_view()
    lo, hi = sorted(axis.get_view_interval())
    for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(float(d) for d in range(1, 10))):
        ticks = [t for t in LogLocator(base=10, subs=subs).tick_values(lo, hi) if lo <= t <= hi]
        if len(ticks) >= 2:
            axis.set_major_locator(LogLocator(base=10, subs=subs))
            plain_log_ticks(axis)
            return True
    (axis.axes.set_yscale if axis is axis.axes.yaxis else axis.axes.set_xscale)("linear")
    axis.set_minor_formatter(NullFormatter())
    return False


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
    # Below the axes: a long end note in the title row never runs into it.
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    note = _end_note(history)
    if title or note:
        # x only: constrained layout keeps the row for a suptitle it may place (y unset), so the
        # note never runs into the axes' titles.
        fig.suptitle("   ".join(p for p in (title, note) if p), x=0.01, ha="left",
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


# A point further from the best than this many times the median distance (and than a floor) is drawn
# at the axis' edge instead of stretching it: one failed model must not squash every good one.
OFF_SCALE_SPREAD = 5.0


def off_scale(values: np.ndarray, *, higher_is_better: bool, share: bool) -> np.ndarray:
    """Which values lie so far on the bad side of the rest that an axis holding them would squash the
    others: further from the best than ``OFF_SCALE_SPREAD`` × the median distance, and than a floor
    (5 points for a share, a tenth of the best otherwise). Only from 3 points up, and never most of them."""
    far = np.zeros(len(values), bool)
    if len(values) < 3:
        return far
    best = values.max() if higher_is_better else values.min()
    distance = np.abs(best - values)
    floor = 0.05 if share else 0.1 * abs(float(best)) or 0.05
    far = distance > max(OFF_SCALE_SPREAD * float(np.median(distance)), floor)
    return far if 2 * far.sum() < len(values) else np.zeros(len(values), bool)


def quality_limits(values: np.ndarray, *, share: bool, room_below: bool = False) -> tuple[float, float]:
    """The quality axis around ``values`` with a margin; a share never beyond 0–100%."""
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:  # one value: a small window around it (a point of a share)
        pad = 0.01 if share else abs(hi) * 0.05 or 0.05
        bottom, top = lo - pad, hi + pad
    else:
        bottom, top = lo - (0.3 if room_below else 0.15) * (hi - lo), hi + 0.15 * (hi - lo)
    return (max(bottom, 0.0), min(top, 1.0)) if share else (bottom, top)


def comparison(points: Sequence[Point], *, metric: Metric, latency_limit_ms: float | None = None) -> bytes | None:
    """Validation metric against batch-1 median latency (log x; what the policy compares), with their intervals
    as error bars; the chosen
    model highlighted. The quality axis zooms on the good models; one far worse is drawn at the axis' edge,
    with its value."""
    from matplotlib.ticker import MaxNLocator

    points = [p for p in points if math.isfinite(p.value) and math.isfinite(p.latency_ms)]
    if not points:
        return None
    higher = metric.higher_is_better
    values = np.array([p.value for p in points])
    far = off_scale(values, higher_is_better=higher, share=metric.share)
    shown = [p.value for p, out in zip(points, far, strict=True) if not out]
    shown += [v for p, out in zip(points, far, strict=True) if not out and p.value_interval is not None
              for v in (p.value_interval.low, p.value_interval.high) if math.isfinite(v)]
    bottom, top = quality_limits(np.array(shown), share=metric.share, room_below=bool(far.any()) and higher)
    with new_figure(7.6, 3.6) as (fig, buf):
        ax = fig.add_subplot()
        xs = np.array([max(p.latency_ms, 1e-3) for p in points])
        ys = np.where(far, bottom if higher else top, values)
        labels, anchors = [], []
        for p, x, y, out in zip(points, xs, ys, far, strict=True):
            colour = GREEN if p.chosen else GREY if p.rejected or out else BLUE
            size = 150 if p.chosen else 55
            marker = "*" if p.chosen else ("v" if higher else "^") if out else "o"
            if not out:
                _error_bars(ax, p, x, y, colour)
            ax.scatter([x], [y], s=size, color=colour, zorder=4, clip_on=False, marker=marker,
                       edgecolor="white" if not p.chosen else INK, linewidth=1.2 if p.chosen else 0.8)
            text = p.name + (" (chosen)" if p.chosen else "") + (f": {metric.show(p.value)}, off the scale"
                                                                  if out else "")
            # A thin leader line, hidden under the marker unless the label had to move away from it.
            leader = {"arrowstyle": "-", "color": GREY, "linewidth": 0.6, "shrinkA": 1, "shrinkB": 7}
            labels.append(ax.annotate(text, (x, y), xytext=(7, 0), textcoords="offset points", va="center",
                                      fontsize=8.5, color=INK if not (p.rejected or out) else "#52606d",
                                      fontweight="bold" if p.chosen else "normal", zorder=5, annotation_clip=False,
                                      arrowprops=leader))
            anchors.append((x, y, math.sqrt(size) / 2))
        ax.set_xscale("log")
        lo, hi = xs.min(), xs.max()
        if latency_limit_ms:
            hi = max(hi, latency_limit_ms)
            lo = min(lo, latency_limit_ms)
            ax.axvline(latency_limit_ms, color=RED, linestyle="--", linewidth=1.1, zorder=2)
            ax.text(latency_limit_ms, 0.02, f" p95 limit {latency_limit_ms:g} ms", color=RED, fontsize=8,
                    transform=ax.get_xaxis_transform(), va="bottom")
        ax.set_xlim(lo / 1.8, hi * 3.2)  # room on the right for the labels
        readable_log_axis(ax.xaxis)
        ax.set_ylim(bottom, top)
        ax.set_xlabel("median (p50) latency, one sample per call (ms, log scale)")
        ax.set_ylabel(metric.label + ("" if higher else " (lower is better)"))
        if metric.share:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
            ax.yaxis.set_major_formatter(exact_percent_formatter())
        ax.set_title("Quality against speed", pad=10)
        freeze_layout(fig)
        place_labels(fig, ax, labels, anchors)
    return buf.getvalue()


# Where a point's label may go, in order of preference: (dx, dy) in points, and its alignment.
_LABEL_SPOTS = ((7, 0, "left", "center"), (7, 8, "left", "bottom"), (7, -8, "left", "top"),
                (-7, 0, "right", "center"), (0, 8, "center", "bottom"), (0, -8, "center", "top"),
                (-7, 8, "right", "bottom"), (-7, -8, "right", "top"), (7, 19, "left", "bottom"),
                (7, -19, "left", "top"), (-7, 19, "right", "bottom"), (-7, -19, "right", "top"),
                (18, -24, "left", "top"), (18, 24, "left", "bottom"), (-18, -24, "right", "top"),
                (-18, 24, "right", "bottom"), (24, -38, "left", "top"), (-24, -38, "right", "top"),
                (24, 38, "left", "bottom"), (-24, 38, "right", "bottom"))


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


def place_labels(fig, ax, labels: list, anchors: list[tuple[float, float, float]]) -> None:
    """Move each point's label to the first spot where it covers no other text, no marker and stays
    in the axes (else to the spot that covers least): the chosen model's first, then top to bottom."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    from practica.reporting.figcheck import visible_texts

    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72
    markers = []
    for x, y, radius in anchors:
        cx, cy = ax.transData.transform((x, y))
        markers.append(Bbox.from_extents(cx - radius * px, cy - radius * px, cx + radius * px, cy + radius * px))
    ours = {id(label) for label in labels}
    placed = [box for text, box in visible_texts(fig) if id(text) not in ours]
    frame, edge = ax.get_window_extent(renderer), fig.bbox
    order = sorted(range(len(labels)), key=lambda i: (labels[i].get_fontweight() != "bold", -anchors[i][1]))
    for i in order:
        label = labels[i]
        best: tuple[float, tuple] | None = None
        for spot in _LABEL_SPOTS:
            dx, dy = spot[0] * (1.5 if markers[i].width > 20 else 1.0), spot[1]
            label.xyann = (dx, dy)
            label.set_horizontalalignment(spot[2])
            label.set_verticalalignment(spot[3])
            box = label.get_window_extent(renderer)  # the text and its leader line
            words = Text.get_window_extent(label, renderer)  # the text alone: its leader reaches its marker
            # Worst to cut: the figure's edge, then another text, then a marker, then the axes' frame.
            cost = 100 * sum(_shared_area(box, other) for other in placed)
            cost += 20 * sum(_shared_area(words, other) for other in markers)
            cost += 1e6 * _outside_area(box, edge) + _outside_area(box, frame)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy, spot[2], spot[3]))
            if cost == 0:
                break
        assert best is not None  # _LABEL_SPOTS is not empty
        dx, dy, ha, va = best[1]
        label.xyann = (dx, dy)
        label.set_horizontalalignment(ha)
        label.set_verticalalignment(va)
        if label.arrow_patch is not None:  # a leader line only for a label that had to move off its point
            label.arrow_patch.set_visible(abs(dy) > 10)
        placed.append(label.get_window_extent(renderer))


def exact_percent_formatter():
    """Percent tick labels with the fewest decimals that still tell every tick apart and round none:
    98%, 99%, 100% or 98.5%, 99.0%, 99.5% (never 98.50%, nor 99.2% for 99.25%)."""
    from matplotlib.ticker import Formatter

    class ExactPercent(Formatter):
        shown: tuple[float, ...] = ()

        def set_locs(self, locs) -> None:
            self.shown = tuple(v * 100 for v in locs)

        def __call__(self, x: float, pos: int | None = None) -> str:
            shown = self.shown or (x * 100,)
            decimals = next((d for d in range(4) if all(abs(round(v, d) - v) < 1e-6 for v in shown)), 3)
            return f"{x * 100:.{decimals}f}%"

    return ExactPercent()


def _shared_area(a, b) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _outside_area(box, frame) -> float:
    return box.width * box.height - _shared_area(box, frame)


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
        # Short names stand upright; a few long ones lean (45°); many long ones stand on end (90°),
        # the only angle at which neighbours a cell apart never touch.
        long_names = max(map(len, labels)) > 2
        rotation = 0 if not long_names else 45 if n <= 5 else 90
        ax.set_xticks(range(n), labels, rotation=rotation, ha="right" if rotation == 45 else "center",
                      rotation_mode="anchor" if rotation == 45 else "default")
        ax.set_yticks(range(n), labels)
        ax.tick_params(length=0)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        # Over the whole figure, not the matrix: a title longer than the matrix is wide is not cut off.
        fig.suptitle(wrapped(fig, title, 11), x=0.01, ha="left", fontsize=11, fontweight="bold")
        bar = fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02)
        bar.outline.set_visible(False)
        bar.ax.yaxis.set_major_formatter(_percent_formatter())
        bar.set_label("share of the true class", fontsize=8.5)
    return buf.getvalue()


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
