"""The report's precision–recall section: the curves of the chosen model and its runner-up on the
validation split, and, when the suite sets ``selection.threshold``, the decision threshold chosen and
what it does on each split against the most probable class.

A classification run gets the curves (one per class, one against the rest; for two classes the
positive one's only); a regression, or a run whose outputs were not kept, gets no section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from practica.evaluation.thresholds import PRCurve, caveats, pr_curves
from practica.reporting import humanize as h
from practica.reporting import plots
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.evaluation.thresholds import OperatingPoint, ThresholdChoice
    from practica.reporting.context import Image  # imported when used: context.py imports this module
    from practica.results import Ok, SuiteRun

MAX_LEGEND_CLASSES = 10  # past this, one thin line per class and the mean AP in the title
MODEL_COLOURS = (plots.BLUE, plots.ORANGE)


@dataclass(frozen=True)
class ThresholdSection:
    curves: Image
    caption: str
    paragraph: str = ""  # the decision threshold, when the suite sets one
    # decision rule, split, precision, recall, F1, "predicted / actual" positives: at the threshold, then argmax
    rows: tuple[tuple[str, str, str, str, str, str], ...] = ()


def threshold_section(run: SuiteRun) -> ThresholdSection | None:
    """The section for ``run``; None for a regression or when no compared model kept its outputs."""
    if not get_task(run.splits.train.task).has_classes:
        return None
    models = _compared(run)
    if not models:
        return None
    classes, y = tuple(run.splits.classes), run.splits.val.y
    choice = run.threshold
    positive = choice.positive if choice is not None else None
    curves = {m.name: pr_curves(m.predictions.val, y, classes, positive) for m in models if m.predictions}
    if not any(curves.values()):
        return None
    binary = len(classes) == 2
    figure = pr_figure(curves, choice, binary=binary)
    first = next((c for lines in curves.values() for c in lines), None)
    which = f"the {first.label} class" if binary and first else "each class against the rest"
    caption = (f"Precision against recall on the validation split ({len(y):,} samples), {which}, as the threshold "
               "on its probability falls; AP is the average precision (the area under the curve; a random ranking "
               "scores the class's share).")
    from practica.reporting.context import Image

    image = Image("precision-recall", f"Precision–recall curves of {', '.join(curves)} on the validation split",
                  figure)
    if choice is None:
        return ThresholdSection(image, caption)
    return ThresholdSection(image, caption, _paragraph(choice), _rows(choice))


def _compared(run: SuiteRun) -> list[Ok]:
    """The chosen model and the best runner-up (the ranking's order), those that kept their outputs."""
    ok = {r.name: r for r in run.results if r.status == "ok" and r.predictions is not None}
    order = [run.decision.chosen] + [r.experiment for r in run.decision.ranking]
    names = list(dict.fromkeys(n for n in order if n in ok))
    return [ok[n] for n in names[:2]]


def pr_figure(curves: dict[str, list[PRCurve]], choice: ThresholdChoice | None, *, binary: bool) -> bytes:
    """Two classes: one axes, a curve per model. More: an axes per model, a curve per class."""
    panels = [(None, curves)] if binary else [(name, {name: c}) for name, c in curves.items()]
    width = 6.4 if binary else 5.2 * len(panels)
    with plots.new_figure(width, 4.2) as (fig, buf):
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, group) in zip(axes, panels, strict=True):
            for i, (name, lines) in enumerate(group.items()):
                for c in lines:
                    many = len(lines) > MAX_LEGEND_CLASSES
                    colour = MODEL_COLOURS[i % 2] if binary else None if not many else plots.GREY
                    label = (f"{name}: {c.label} (AP {c.average_precision:.3f})" if binary
                             else None if many else f"{plots.shorten(c.label, 18)} (AP {c.average_precision:.3f})")
                    # the chosen model's curve (the first) drawn over the runner-up's
                    ax.step(c.recall, c.precision, where="post", color=colour, label=label,
                            linewidth=0.8 if many else 1.8, alpha=0.5 if many else 1.0, zorder=4 - i)
                if not binary:
                    mean_ap = float(np.mean([c.average_precision for c in lines]))
                    ax.set_title(f"{title}: mean AP {mean_ap:.3f}")
            if choice is not None and (binary or title == choice.experiment):
                _mark_choice(ax, choice)
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(0.0, 1.03)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower left", framealpha=0.92, facecolor="white", edgecolor="#d0d7de")
        if binary:
            axes[0].set_title("Precision–recall, validation split")
    return buf.getvalue()


def _mark_choice(ax, choice: ThresholdChoice) -> None:
    """The target as a dashed line, and the chosen operating point on validation as a star."""
    if choice.metric == "recall":
        ax.axvline(choice.at_least, color=plots.RED, linestyle="--", linewidth=1.0, zorder=2)
    else:
        ax.axhline(choice.at_least, color=plots.RED, linestyle="--", linewidth=1.0, zorder=2)
    point = choice.val
    if choice.threshold is not None and math.isfinite(point.recall) and math.isfinite(point.precision):
        ax.scatter([point.recall], [point.precision], marker="*", s=160, color=plots.GREEN, edgecolor=plots.INK,
                   zorder=5, label=f"threshold {choice.threshold:.3f} ({choice.target})")


def _paragraph(choice: ThresholdChoice) -> str:
    v, t = choice.val, choice.test
    sentences = [f"selection.threshold asks for {choice.target} on {choice.positive}, chosen for "
                 f"{choice.experiment} on the validation split.", choice.note]
    if choice.threshold is not None:
        sentences += [
            f"On the test split, reported only, the same threshold gives precision {h.percent(t.precision)} and "
            f"recall {h.percent(t.recall)} (the most probable class: {h.percent(choice.argmax_test.precision)} and "
            f"{h.percent(choice.argmax_test.recall)}).",
            f"The bundle applies it: practica predict and practica serve predict {choice.positive} whenever "
            f"p({choice.positive}) ≥ {choice.threshold:.3f}.",
            *caveats(choice),
        ]
    if 0 < v.positives < 100:
        sentences.append(f"The validation split holds {v.positives:,} {choice.positive} samples: one more or one "
                         f"fewer caught moves recall by {h.percent(1 / v.positives)}.")
    return " ".join(sentences)


def _rows(choice: ThresholdChoice) -> tuple[tuple[str, str, str, str, str, str], ...]:
    def row(rule: str, split: str, p: OperatingPoint) -> tuple[str, str, str, str, str, str]:
        return (rule, split, h.percent(p.precision), h.percent(p.recall), h.percent(p.f1),
                f"{p.flagged:,} / {p.positives:,}")

    out = []
    if choice.threshold is not None:
        rule = f"p({choice.positive}) ≥ {choice.threshold:.3f}"
        out += [row(rule, "validation", choice.val), row(rule, "test", choice.test)]
    out += [row("most probable class", "validation", choice.argmax_val),
            row("most probable class", "test", choice.argmax_test)]
    return tuple(out)
