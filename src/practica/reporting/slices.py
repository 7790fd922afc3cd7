"""The report's error analysis: every model on every slice, what to work on, the most confident mistakes.

Built from the results' slice scores (``evaluation.slice_scores``) and the chosen model's recorded
validation outputs; like ``context.py``, everything here is formatted text and figures, nothing for the
templates to compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from practica.evaluation.slice_scores import Gap, SliceScores, gaps
from practica.reporting import humanize as h
from practica.reporting import plots
from practica.tasks import Metric, get_task

if TYPE_CHECKING:
    from practica.data.records import Dataset
    from practica.reporting.context import Image
    from practica.results import Ok, SuiteRun

TOP_GAPS = 10  # rows of "what to work on"
GRID_MISTAKES = 24  # images in the mistakes grid (6 × 4)
TABLE_MISTAKES = 12  # rows of a table's mistakes
TABLE_FEATURES = 10  # columns of a table's mistakes (a wider row no longer reads)
TEXT_CHARS = 200  # a mistaken text is shown up to this many characters
GRID_COLUMNS = 6
_TILE_INCHES = 1.55


@dataclass(frozen=True)
class ErrorAnalysis:
    metric: str  # the slice metric's label: "validation accuracy"
    headline: str  # "Most of the error to win back is in …"
    reference: str  # what the gaps are measured against
    work_on: tuple[tuple[str, ...], ...]  # slice, samples, share, chosen, reference (whose), gap, gain
    experiments: tuple[str, ...]  # the columns of ``table``
    table: tuple[tuple[str, ...], ...]  # slice, samples, share, a value per experiment (val), chosen on test
    best: tuple[tuple[bool, ...], ...]  # per row of ``table``, which experiment's value is the slice's best
    notes: tuple[str, ...]
    mistakes: Image | None  # images: the grid
    mistakes_caption: str
    mistakes_title: str  # "Most confident mistakes", or a regression's "Largest errors"
    mistake_columns: tuple[str, ...] = ()  # tables: the rows
    mistake_rows: tuple[tuple[str, ...], ...] = ()
    floors: str = ""  # the declared audit, in words

    @property
    def images(self) -> tuple[Image, ...]:
        return (self.mistakes,) if self.mistakes is not None else ()


def build(run: SuiteRun) -> ErrorAnalysis | None:
    """The section for ``run``; None when no model was chosen or the chosen one has no slice scores."""
    scored = {r.name: r for r in run.results if r.status == "ok" and r.slices is not None}
    chosen = scored.get(run.decision.chosen or "")
    if chosen is None or chosen.slices is None:
        return None
    scores = chosen.slices
    task = get_task(run.splits.val.task)
    metric = task.metric(scores.metric)
    human = run.suite.evaluation.human_level
    found = gaps(scores, {n: r.slices for n, r in scored.items() if r.slices is not None}, human)
    names = tuple(scored)
    rows, best = _table(scores, scored, metric)
    grid, caption, columns, mistake_rows = _mistakes(run, chosen)
    floors = run.suite.selection.slice_floors
    return ErrorAnalysis(
        metric=metric.label,
        headline=_headline(found, metric, chosen.name),
        reference=("the declared human level (evaluation.human_level)" if human is not None
                   else "the best experiment of the suite on each slice"),
        work_on=tuple(_gap_row(g, metric, scores.min_samples) for g in found if g.weighted > 0)[:TOP_GAPS],
        experiments=names,
        table=rows,
        best=best,
        notes=_notes(run, scores),
        mistakes=grid,
        mistakes_caption=caption,
        mistakes_title="Most confident mistakes" if task.has_classes else "Largest errors",
        mistake_columns=columns,
        mistake_rows=mistake_rows,
        floors=(", ".join(f"{k} {'≥' if metric.higher_is_better else '≤'} {metric.text(v)}" for k, v in floors.items())
                if floors else ""),
    )


def _headline(found: tuple[Gap, ...], metric: Metric, chosen: str) -> str:
    worth = [g for g in found if g.weighted > 0]
    if not worth:
        return (f"{chosen} is the best of the suite on every slice: no slice has error to win back from another "
                "model. Declare evaluation.human_level to measure what is left.")
    first, rest = worth[0], worth[1:3]
    text = (f"Most of the error to win back is in {first.name}: bringing it to {_whose(first)} "
            f"({metric.text(first.reference)}, against {metric.text(first.value)}) would "
            f"{'add' if metric.higher_is_better else 'take'} {metric.difference(first.weighted)} "
            f"{'to' if metric.higher_is_better else 'off'} the whole {metric.label}")
    if rest:
        text += "; then " + " and ".join(f"{g.name} ({metric.difference(g.weighted)})" for g in rest)
    return text + "."


def _whose(g: Gap) -> str:
    return "the human level" if g.reference_name == "human level" else f"{g.reference_name}'s level"


def _gap_row(g: Gap, metric: Metric, min_samples: int) -> tuple[str, ...]:
    few = " (few)" if g.n < min_samples else ""
    return (g.name, f"{g.n}{few}", f"{g.share:.1%}", metric.show(g.value),
            f"{metric.show(g.reference)} ({g.reference_name})", metric.difference(g.gap) if g.gap else "0",
            metric.difference(g.weighted) if g.weighted else "0")


def _table(scores: SliceScores, scored: dict[str, Ok], metric: Metric,
           ) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[bool, ...], ...]]:
    sign = 1.0 if metric.higher_is_better else -1.0
    rows, best = [], []
    for s in scores.slices:
        values = [sc.value if (r.slices and (sc := r.slices.get(s.name))) else math.nan for r in scored.values()]
        finite = [sign * v for v in values if math.isfinite(v)]
        top = max(finite) if finite else math.nan
        rows.append((s.name, f"{s.n}{' (few)' if s.n < scores.min_samples else ''}", f"{s.share:.1%}",
                     *(metric.show(v) for v in values), metric.show(s.test_value)))
        best.append(tuple(math.isfinite(v) and sign * v == top for v in values))
    return tuple(rows), tuple(best)


def metric_label(run: SuiteRun, scores: SliceScores) -> str:
    return get_task(run.splits.val.task).metric(scores.metric).label


def _notes(run: SuiteRun, scores: SliceScores) -> tuple[str, ...]:
    notes = [f"Slices overlap (a sample is in one class and in one quarter of each statistic), so the gains of "
             f"different slices do not add up. A slice with fewer than {scores.min_samples} validation samples "
             "(marked few) is shown but no selection floor applies to it: its figure moves too much from one "
             "sample to the next."]
    if scores.metric != run.decision.metric:
        chosen_by = get_task(run.splits.val.task).metric(run.decision.metric).label
        notes.append(f"Slices are scored by {metric_label(run, scores)}, the per-sample counterpart of the "
                     f"selection's {chosen_by}: a slice's gap times its share is then exactly what closing it "
                     "changes in the whole figure.")
    if run.suite.evaluation.human_level is None:
        notes.append("The reference on each slice is the best experiment there; on a small slice the best of "
                     "several is partly luck, so a small gap there is weak evidence. Declare "
                     "evaluation.human_level for a fixed reference.")
    if any(s.group == "class" for s in scores.slices) and scores.metric == "val_accuracy":
        notes.append("A class's accuracy is its recall: another model can lead on a class by predicting it more "
                     "often, at other classes' expense, so read a class's gap with the confusion matrix above.")
    if run.splits.val.kind == "text":
        notes.append("A text's length is its number of words (split at white space); its quarters are cut at the "
                     "validation split's quartiles, and the test split at the same values.")
    if run.splits.val.kind == "image":
        notes.append("Brightness is an image's mean grey level, contrast the standard deviation of its grey "
                     "levels; their quarters are cut at the validation split's quartiles, and the test split at "
                     "the same values.")
    notes += scores.notes
    return tuple(notes)


# --------------------------------------------------------------------------- mistakes


def _mistakes(run: SuiteRun, chosen: Ok,
              ) -> tuple[Image | None, str, tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The chosen model's worst validation samples: a classifier's most confident mistakes, a regressor's
    largest errors; as a grid of images, or as a table's rows."""
    if chosen.predictions is None:
        return None, "", (), ()
    val = run.splits.val
    worst = _worst(np.asarray(chosen.predictions.val, dtype=np.float64), val, run.splits.classes)
    if not worst:
        return None, f"{chosen.name} makes no mistake on the validation split.", (), ()
    classify = get_task(val.task).has_classes
    what, order = ("most confident mistakes", "most confident") if classify else ("largest errors", "worst")
    if val.kind == "image":
        shown = worst[:GRID_MISTAKES]
        caption = (f"{chosen.name}'s {len(shown)} {what} on the validation split, {order} first: the true label, "
                   f"the prediction and {'its probability' if classify else 'the absolute error'}.")
        labels = [f"true {t}\npred {p} · {sure}" for _, t, p, sure in shown]
        return _grid(_images(val, np.array([i for i, *_ in shown])), labels, what), caption, (), ()
    shown = worst[:TABLE_MISTAKES]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    if val.kind == "text":  # the texts themselves, on one line each
        columns = ("Sample", "Text", "True", "Predicted", "Confidence" if classify else "Error")
        rows = tuple((_source(val, i), shorten_text(str(val.x[i]), TEXT_CHARS), t, p, sure) for i, t, p, sure in shown)
        return (None, f"{chosen.name}'s {len(shown)} {what} on the validation split, {order} first; texts longer "
                f"than {TEXT_CHARS} characters are cut (…).", columns, rows)
    features = _feature_names(val)
    columns = ("Sample", *features[:TABLE_FEATURES], "True", "Predicted", "Confidence" if classify else "Error")
    rows = tuple((_source(val, i), *_feature_values(val, i)[:TABLE_FEATURES], t, p, sure) for i, t, p, sure in shown)
    wide = len(features) > TABLE_FEATURES
    more = f" The first {TABLE_FEATURES} of {len(features)} columns are shown." if wide else ""
    return None, f"{chosen.name}'s {len(shown)} {what} on the validation split, {order} first.{more}", columns, rows


def _worst(out: np.ndarray, val: Dataset, classes: tuple[str, ...]) -> list[tuple[int, str, str, str]]:
    """(index, true, predicted, how sure) of every mistake, the most confident first; for a regression every
    sample, the largest absolute error first."""
    if get_task(val.task).has_classes:
        pred, conf = out.argmax(1), out.max(1)
        wrong = np.flatnonzero(pred != val.y)
        return [(int(i), classes[int(val.y[i])], classes[int(pred[i])], f"{conf[i]:.0%}")
                for i in wrong[np.argsort(-conf[wrong], kind="stable")]]
    values = out.reshape(-1)
    err = np.abs(values - val.y)
    return [(int(i), f"{float(val.y[i]):.4g}", f"{values[i]:.4g}", f"error {err[i]:.3g}")
            for i in np.argsort(-err, kind="stable")[:TABLE_MISTAKES + GRID_MISTAKES]]


def _images(data: Dataset, indices: np.ndarray) -> np.ndarray:
    rows = np.sort(indices)
    taken = np.asarray(data.x[rows])  # a mapped set reads only these rows
    return taken[np.searchsorted(rows, indices)]


def _grid(images: np.ndarray, labels: list[str], what: str) -> Image:
    from practica.reporting.context import Image

    cols = min(GRID_COLUMNS, len(images))
    rows = math.ceil(len(images) / cols)
    with plots.new_figure(cols * _TILE_INCHES, rows * (_TILE_INCHES + 0.35)) as (fig, buf):
        for k, (img, label) in enumerate(zip(images, labels, strict=True)):
            ax = fig.add_subplot(rows, cols, k + 1)
            grey = img.shape[-1] == 1
            # nearest-neighbour upscaling keeps small images' pixels sharp
            ax.imshow(img[..., 0] if grey else img, cmap="gray" if grey else None, vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_title(label, fontsize=8, linespacing=1.25)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return Image("mistakes", f"The chosen model's {what} on validation", buf.getvalue())


def shorten_text(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space as one space), cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _feature_names(data: Dataset) -> tuple[str, ...]:
    if data.table is not None:
        return tuple(data.table.names)
    return data.feature_names or tuple(f"feature {i}" for i in range(data.x.shape[1]))


def _feature_values(data: Dataset, i: int) -> tuple[str, ...]:
    row = np.asarray(data.x[i], dtype=np.float64)
    out = []
    for k, v in enumerate(row):
        column = data.table.columns[k] if data.table is not None else None
        if math.isnan(v):
            out.append(h.DASH)
        elif column is not None and column.kind == "categorical" and 0 <= v < len(column.categories):
            out.append(column.categories[int(v)])
        else:
            out.append(f"{v:.4g}")
    return tuple(out)


def _source(data: Dataset, i: int) -> str:
    return data.sources[i] if len(data.sources) == len(data) else f"val[{i}]"
