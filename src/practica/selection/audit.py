"""The performance audit: a model below a declared floor on a slice of the data is not shipped.

``selection.slice_floors`` gives, per slice name (``*`` for every slice), the worst slice metric a model
may show on validation: a minimum for accuracy, a maximum for an error such as MAE. Slices with fewer
validation samples than ``evaluation.min_slice_samples`` are not audited: their figure moves too much
from one sample to the next to reject a model on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from practica.evaluation.slice_scores import below_floor
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.results import Ok


def slice_floor_violation(result: Ok, floors: dict[str, float]) -> str | None:
    """Why ``result`` fails the audit (the slice, its value and the floor), or None when it passes."""
    if not floors:
        return None
    if result.slices is None:
        return "selection.slice_floors are declared but this result has no slice scores to audit"
    found = below_floor(result.slices, floors)
    if found is None:
        return None
    score, floor = found
    metric = get_task(result.evaluation.task).metric(result.slices.metric)
    bound = "floor" if metric.higher_is_better else "ceiling"
    return (f"on the slice '{score.name}' ({score.n} validation samples) its {metric.label} is "
            f"{metric.text(score.value)}, past the slice {bound} of {metric.text(floor)} (selection.slice_floors)")
