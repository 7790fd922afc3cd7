"""What transfer bought: each experiment that starts from pretrained weights (or fits a baseline on a
network's frozen features) against its twin in the same suite, the same model from scratch (or on raw
inputs), in one sentence each with the validation and test accuracy and the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from practica import text as h
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.pipeline.suite import SuiteRun
    from practica.results import Ok


def transfer_lines(run: SuiteRun) -> tuple[str, ...]:
    """One sentence per transfer experiment of a classification run; none when the suite has no such experiment."""
    ok = [r for r in run.results if r.status == "ok"]
    if not get_task(run.splits.train.task).has_classes:
        return ()  # a regression's twin comparison would be in its own metric: not written yet
    lines = []
    for r in ok:
        model = r.spec.model
        if model.pretrained is None and model.features is None:
            continue
        twin = next((t for t in ok if _is_twin(r, t)), None)
        lines.append(_sentence(r, twin))
    return tuple(lines)


def _is_twin(r: Ok, t: Ok) -> bool:
    """``t`` is ``r``'s model without the transfer: the same network with the same epochs from random weights,
    or the same kind of baseline on the raw inputs."""
    a, b = r.spec.model, t.spec.model
    if b.pretrained is not None or b.features is not None or t.name == r.name:
        return False
    if a.features is not None:  # its settings may differ (more iterations on fewer, richer features)
        return a.sklearn == b.sklearn
    return (a.layers, a.arch, a.params) == (b.layers, b.arch, b.params) and t.spec.train.epochs == r.spec.train.epochs


def _accuracy(r: Ok, split: str) -> float:
    return getattr(r.trained, split).classification.accuracy


def _budget(r: Ok) -> str:
    epochs = len(r.history.epochs) if r.history is not None else 0
    spent = h.duration(r.train_seconds)
    return f"{h.plural(epochs, 'epoch')} in {spent}" if epochs else f"fitted in {spent}"


def _sentence(r: Ok, twin: Ok | None) -> str:
    how = "on a network's frozen features" if r.spec.model.features is not None else "from pretrained weights"
    own = (f"{r.name} ({how}) reaches {h.percent(_accuracy(r, 'val'))} validation accuracy "
           f"({h.percent(_accuracy(r, 'test'))} on test, {_budget(r)})")
    if twin is None:
        what = "the same baseline on raw inputs" if r.spec.model.features is not None else (
            "the same network from random weights with the same epochs")
        return f"{own}; the suite has no twin to measure what transfer bought: add {what}."
    gain = _accuracy(r, "val") - _accuracy(twin, "val")
    verb = "above" if gain > 0 else "below" if gain < 0 else "level with"
    gap = "" if gain == 0 else f"{h.points(abs(gain))} "
    return (f"{own}: {gap}{verb} {twin.name} ({h.percent(_accuracy(twin, 'val'))}, "
            f"{h.percent(_accuracy(twin, 'test'))} on test, {_budget(twin)}){_noise(r, twin)}.")


def _noise(r: Ok, twin: Ok) -> str:
    """Whether the two validation accuracies' intervals overlap: a gap inside them may be luck of the split."""
    a, b = r.intervals.get("val_accuracy"), twin.intervals.get("val_accuracy")
    if a is None or b is None:
        return ""
    if a.low <= b.high and b.low <= a.high:
        return "; their validation intervals overlap, so the gap may be the split's noise"
    return "; their validation intervals do not overlap"
