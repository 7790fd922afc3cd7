"""The page of ``practica runs compare --html``: runs side by side, and their validation curves overlaid.

One self-contained HTML file, as the report is (``report.css`` inline, the figure a data URI, no
script). What it shows is ``practica.runs.Comparison``; this module only words and draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from practica.io import write_text
from practica.reporting import plots
from practica.reporting.templating import environment
from practica.text import DASH, duration

if TYPE_CHECKING:
    from matplotlib.typing import LineStyleType as LineStyle

    from practica.runs import Comparison, ExperimentView
    from practica.tasks import Metric
    from practica.training.history import History

# One colour per run, in order: the report's palette, then two more.
RUN_COLOURS = (plots.BLUE, plots.ORANGE, plots.GREEN, plots.RED, "#7b4fb0", "#8c6d31")
# and a dash pattern each, so that a run whose curve lies on another's (the same seed) still shows.
RUN_DASHES: tuple[LineStyle, ...] = ("-", "--", ":", "-.")
PANELS_PER_ROW = 2
MAX_PANELS = 12  # beyond this the figure is a wall; the page says which were left out


@dataclass(frozen=True)
class Curves:
    """The overlaid curves: the PNG, what its panels are, and what the page says of it."""

    png: bytes
    caption: str

    @property
    def src(self) -> str:
        return plots.png_src(self.png)

    @property
    def css_width(self) -> int:
        return plots.css_width(self.png)


def write_compare_page(comparison: Comparison, path: Path) -> Path:
    """Write the comparison as one self-contained HTML file at ``path``; returns it."""
    page = environment().get_template("compare.html").render(
        c=comparison, names=comparison.names, colours=RUN_COLOURS, curves=curves(comparison),
        duration=duration, dash=DASH, absent=any(DASH in d.values for d in comparison.differences),
    )
    write_text(path, page)
    return path


def curves(comparison: Comparison) -> Curves | None:
    """The validation metric per epoch, one colour per run: a panel per experiment that every run has
    and trained by epochs; without one, a single panel of each run's chosen model. None when no run has a
    history to draw (baselines only)."""
    runs = comparison.runs
    panels: list[tuple[str, list[tuple[int, History]]]] = []
    for name in comparison.common:
        lines = [(i, h) for i, r in enumerate(runs) if (h := _history(r.experiment(name))) is not None]
        if lines:
            panels.append((name, lines))
    caption = "one panel per experiment the runs share"
    if not panels:
        lines = [(i, h) for i, r in enumerate(runs)
                 if r.result.chosen and (h := _history(r.experiment(r.result.chosen))) is not None]
        if not lines:
            return None
        panels = [("each run's chosen model", lines)]
        caption = "the runs share no trained-by-epochs experiment; each run's chosen model"
    left_out = len(panels) - MAX_PANELS
    panels = panels[:MAX_PANELS]
    if left_out > 0:
        caption += f" (the first {MAX_PANELS}; {left_out} more not drawn)"
    column, metric = _curve_metric(comparison.metric, [h for _, lines in panels for _, h in lines])
    png = _draw(panels, comparison, column, metric)
    return Curves(png=png, caption=f"Validation {metric.label.removeprefix('validation ')} per epoch, "
                                   f"{caption}; the star marks the epoch each run kept.")


def _history(cell: ExperimentView | None) -> History | None:
    return cell.history if cell is not None and cell.history is not None and cell.history.epochs else None


def _curve_metric(metric: Metric, histories: list[History]) -> tuple[str, Metric]:
    """The epoch column to draw: the selection's metric when every epoch recorded it (accuracy, R²),
    else the validation loss."""
    from practica.tasks import get_task

    if all(metric.name in h.epochs[0].metrics or metric.name == "val_loss" for h in histories):
        return metric.name, metric
    return "val_loss", get_task(histories[0].task).metric("val_loss")


def _draw(panels, comparison: Comparison, column: str, metric: Metric) -> bytes:
    names = comparison.names
    cols = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // cols)
    with plots.new_figure(4.2 * cols, 2.7 * rows + 0.5) as (fig, buf):
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, (title, lines) in zip(axes, panels, strict=False):
            for i, history in lines:
                epochs = np.array(history.column("epoch"), dtype=float)
                values = plots.finite_values(history.column(column))
                colour = RUN_COLOURS[i % len(RUN_COLOURS)]
                ax.plot(epochs, values, color=colour, linestyle=RUN_DASHES[i % len(RUN_DASHES)],
                        marker="o" if len(epochs) <= 12 else None, markersize=3)
                if history.best_epoch is not None and history.best_epoch in epochs:
                    k = int(np.flatnonzero(epochs == history.best_epoch)[0])
                    ax.plot([epochs[k]], [values[k]], marker="*", markersize=10, color=colour,
                            markeredgecolor="white", markeredgewidth=0.7, linestyle="none", zorder=5)
            ax.set_title(plots.shorten(title, 34))
            ax.set_xlabel("epoch")
            if ax.get_subplotspec().is_first_col():
                ax.set_ylabel(f"val {metric.label.removeprefix('validation ')}")
            plots.integer_epochs(ax, np.array([e for _, h in lines for e in h.column("epoch")], dtype=float))
            if metric.share:
                ax.yaxis.set_major_formatter(plots.exact_percent_formatter())
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        handles = [plots_line(RUN_COLOURS[i % len(RUN_COLOURS)], RUN_DASHES[i % len(RUN_DASHES)])
                   for i in range(len(comparison.runs))]
        labels = [f"{n}  {r.label}" for n, r in zip(names, comparison.runs, strict=True)]
        # One run a row under a single panel: two labels of a run's length are wider than it.
        fig.legend(handles, labels, loc="outside lower center", ncols=1 if cols == 1 else min(len(labels), 3))
    return buf.getvalue()


def plots_line(colour: str, dashes: LineStyle):
    """A legend's handle: a run's line."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, linestyle=dashes, marker="o", markersize=3)
