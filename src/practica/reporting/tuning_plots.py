"""The tuning section's figures: the optimisation history, the parameter importances, the Pareto front.

Drawn like every other figure of the report (``plots.new_figure``: no pyplot, the house style, PNG
bytes), from plain numbers that ``reporting/tuning.py`` read out of the study: nothing here knows optuna.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from practica.reporting import plots
from practica.reporting.plots import BLUE, GREEN, GREY, INK, ORANGE

if TYPE_CHECKING:
    from practica.reporting.tuning import Objective


@dataclass(frozen=True)
class Dot:
    """One trial on a figure: its number, its value on the y axis and, on the front, its cost (the second
    objective: the latency, as a rule)."""

    number: int
    value: float
    cost: float | None = None


def history(complete: Sequence[Dot], pruned: Sequence[Dot], *, objective: Objective,
            untuned: float | None) -> bytes:
    """Each complete trial's value by trial number, the best so far as a step line, the pruned trials
    as grey crosses at the last value they reported, and the untuned recipe as a dashed line. The axis
    zooms on the complete trials: a pruned trial stopped early, and its worse value sits at the axis' edge."""
    from matplotlib.ticker import MaxNLocator

    higher = objective.higher_is_better
    numbers = np.array([d.number for d in complete], dtype=float)
    values = np.array([d.value for d in complete], dtype=float)
    extra = [untuned] if untuned is not None and math.isfinite(untuned) else []
    zoom = np.array([*values, *extra]) if len(values) else np.array([d.value for d in pruned] + extra)
    bottom, top = plots.quality_limits(zoom, share=objective.share, room_below=bool(pruned))
    stops = [min(max(d.value, bottom), top) for d in pruned]
    with plots.new_figure(7.6, 3.3) as (fig, buf):
        ax = fig.add_subplot()
        if len(pruned):
            outside = any(not bottom <= d.value <= top for d in pruned)
            label = "pruned (its last epoch" + ("; worse ones at the edge)" if outside else ")")
            ax.scatter([d.number for d in pruned], stops, marker="x", s=30, color=GREY, linewidth=1.4, zorder=3,
                       clip_on=False, label=label)
        if len(complete):
            ax.scatter(numbers, values, s=30, color=BLUE, zorder=4, edgecolor="white", linewidth=0.6,
                       label="complete trial")
            best = (np.maximum if higher else np.minimum).accumulate(values)
            last = max([d.number for d in (*complete, *pruned)])
            ax.step(np.append(numbers, last), np.append(best, best[-1]), where="post", color=ORANGE,
                    linewidth=1.6, zorder=2, label="best so far")
        if extra:
            ax.axhline(extra[0], color=GREEN, linestyle="--", linewidth=1.2, zorder=1,
                       label=f"untuned ({objective.show(extra[0])})")
        ax.set_ylim(bottom, top)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
        if objective.share:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
            ax.yaxis.set_major_formatter(plots.exact_percent_formatter())
        ax.set_xlabel("trial")
        ax.set_ylabel(objective.label)
        ax.set_title("Optimisation history")
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return buf.getvalue()


def importances(shares: Sequence[tuple[str, float]], *, title: str) -> bytes:
    """Horizontal bars, most important first: each parameter's share of the objective's variance."""
    names = [plots.shorten(name, 28) for name, _ in shares][::-1]
    values = np.array([v for _, v in shares][::-1])
    with plots.new_figure(6.4, 0.34 * len(shares) + 1.25) as (fig, buf):
        ax = fig.add_subplot()
        ax.barh(np.arange(len(values)), values, color=BLUE, height=0.6)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.0%}", va="center", ha="left", fontsize=8.5, color=INK)
        ax.set_yticks(np.arange(len(values)), names)
        ax.set_xlim(0, max(float(values.max()), 0.01) * 1.2)
        ax.xaxis.set_major_formatter(plots.exact_percent_formatter())
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("share of the objective's variance explained")
        ax.set_title(plots.wrapped(fig, title, 11))
    return buf.getvalue()


def front(trials: Sequence[Dot], front_dots: Sequence[Dot], *, objective: Objective, cost: Objective,
          pick: Dot | None, pick_label: str, ruled_out: Sequence[Dot] = ()) -> bytes | None:
    """Every complete trial grey, the Pareto front in blue joined by its staircase, the front points the
    policy ruled out (a broken constraint) hollow, its pick a labelled star; the cost on x (log scale when
    it spans over 8×), the metric on y."""
    from matplotlib.ticker import MaxNLocator

    drawn = [d for d in trials if d.cost is not None and d.cost > 0 and math.isfinite(d.value)]
    on_front = sorted((d for d in front_dots if d in drawn), key=lambda d: d.cost or 0.0)
    if not drawn:
        return None
    with plots.new_figure(7.6, 3.8) as (fig, buf):
        ax = fig.add_subplot()
        rest = [d for d in drawn if d not in on_front]
        if rest:
            ax.scatter([d.cost for d in rest], [d.value for d in rest], s=26, color=GREY, alpha=0.75,
                       zorder=3, linewidth=0, label="trial")
        if on_front:
            xs = [d.cost for d in on_front]
            ys = [d.value for d in on_front]
            ax.step(xs, ys, where="post", color=BLUE, linewidth=1.2, alpha=0.6, zorder=2)
            kept = [d for d in on_front if d not in ruled_out]
            ax.scatter([d.cost for d in kept], [d.value for d in kept], s=46, color=BLUE, zorder=4,
                       edgecolor="white", linewidth=0.8, label="Pareto front")
            out = [d for d in on_front if d in ruled_out]
            if out:
                ax.scatter([d.cost for d in out], [d.value for d in out], s=46, color="white", zorder=4,
                           edgecolor=BLUE, linewidth=1.4, label="front, ruled out by a constraint")
        labels, anchors = [], []
        if pick is not None and pick.cost is not None:
            ax.scatter([pick.cost], [pick.value], s=190, marker="*", color=GREEN, edgecolor=INK,
                       linewidth=1.0, zorder=5, label="the policy's pick")
            leader = {"arrowstyle": "-", "color": GREY, "linewidth": 0.6, "shrinkA": 1, "shrinkB": 8}
            labels.append(ax.annotate(pick_label, (pick.cost, pick.value), xytext=(9, 0),
                                      textcoords="offset points", va="center", fontsize=8.5, color=INK,
                                      fontweight="bold", zorder=6, annotation_clip=False, arrowprops=leader))
            anchors.append((pick.cost, pick.value, math.sqrt(190) / 2))
            # Every other point too: the label keeps clear of them where it can.
            anchors += [(d.cost or 0.0, d.value, math.sqrt(46 if d in on_front else 26) / 2) for d in drawn]
        xs_all = np.array([d.cost for d in drawn], dtype=float)
        ys_all = np.array([d.value for d in drawn], dtype=float)
        lo, hi = float(xs_all.min()), float(xs_all.max())
        if hi / lo > 8:
            ax.set_xscale("log")
            ax.set_xlim(lo / 1.5, hi * 1.5)
            plots.readable_log_axis(ax.xaxis)
        else:
            pad = (hi - lo) * 0.08 or lo * 0.1
            ax.set_xlim(max(0.0, lo - pad), hi + pad)
        ax.set_ylim(*plots.quality_limits(ys_all, share=objective.share))
        if objective.share:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
            ax.yaxis.set_major_formatter(plots.exact_percent_formatter())
        ax.set_xlabel(cost.axis + (", log scale" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel(objective.label)
        ax.set_title(f"{objective.label.capitalize()} against {cost.label}")
        handles, names = ax.get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=len(names))
        plots.freeze_layout(fig)
        if labels:
            plots.place_labels(fig, ax, labels, anchors)
    return buf.getvalue()
