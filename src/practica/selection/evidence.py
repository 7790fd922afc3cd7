"""What the policy compares, with its noise: the metric (paired bootstrap over the validation samples,
McNemar's test for classifiers) and the cost (the median latency's interval, or the size).

A difference inside the noise is a tie. Without the validation outputs or labels (results read back
from an older run) the metric has no interval and compares by its value alone, as it always did.

Two experiments can be the same model (a declared experiment and its tuned twin whose best trial was the
declared one): ``same_model`` tells them apart from the rest by their outputs, not their names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from practica import text
from practica.evaluation.intervals import Bootstrap, Resampled, bootstrap, correct, mcnemar
from practica.evaluation.records import Interval
from practica.tasks import Metric, Task

if TYPE_CHECKING:
    from practica.results import Ok

SIZE_TIE = 0.01  # sizes within 1% of each other are the same size
SAME_OUTPUTS = 1e-6  # validation outputs this close on every sample are the same model's


@dataclass(frozen=True, eq=False)
class Quality:
    """The policy's metric of the eligible models: their values, and (where the validation outputs and labels
    are known) the same resamples of every model and which samples each classifier gets right."""

    metric: Metric
    values: dict[str, float]
    resampled: Resampled | None = None
    right: dict[str, np.ndarray] | None = None  # classifiers: (N,) bool per model

    @classmethod
    def measure(cls, eligible: Sequence[Ok], metric: Metric, task: Task, val_y: np.ndarray | None,
                spec: Bootstrap) -> Quality:
        values = {r.name: metric.value(r.evaluation.val) for r in eligible}
        outputs = {r.name: r.predictions.val for r in eligible if r.predictions is not None}
        if val_y is None or len(outputs) < len(eligible) or any(len(o) != len(val_y) for o in outputs.values()):
            return cls(metric, values)
        resampled = bootstrap(outputs, val_y, task.name, (metric.name,), spec)
        if metric.name not in resampled.values:
            return cls(metric, values)
        right = {name: correct(o, val_y) for name, o in outputs.items()} if task.has_classes else None
        return cls(metric, values, resampled, right)

    def score(self, name: str) -> float:
        """The value, higher better whatever the metric: what ranks the models."""
        return self.values[name] if self.metric.higher_is_better else -self.values[name]

    def gain(self, a: str, b: str) -> float:
        """How much better ``a`` is than ``b`` (negative: worse), in the metric's units."""
        d = self.values[a] - self.values[b]
        return d if self.metric.higher_is_better else -d

    def gain_interval(self, a: str, b: str) -> Interval | None:
        if (d := self.difference(a, b)) is None:
            return None
        return d if self.metric.higher_is_better else Interval(low=-d.high, high=-d.low, level=d.level)

    def difference(self, a: str, b: str) -> Interval | None:
        """The paired interval of ``a``'s metric minus ``b``'s."""
        return None if self.resampled is None else self.resampled.difference(self.metric.name, a, b)

    def interval(self, name: str) -> Interval | None:
        return None if self.resampled is None else self.resampled.interval(self.metric.name, name)

    def p_value(self, a: str, b: str) -> float | None:
        """McNemar's exact test of two classifiers on the same samples; None for a regression."""
        return None if self.right is None else mcnemar(self.right[a], self.right[b])

    def beyond_tolerance(self, name: str, best: str, tolerance: float) -> bool:
        """``name`` is worse than ``best`` by more than ``tolerance`` on the measured validation values.

        Not "beyond noise": on a small validation set the noise is wide (digits' 270 images: a model 1.9
        points worse has a paired interval reaching 0), so a rule that admitted every model not worse
        beyond noise would let a clearly weaker but faster model win. The tolerance is the user's declared
        indifference; the intervals are reported beside every gap, and decide the ties of cost."""
        return self.gain(best, name) > tolerance + 1e-12  # a gain equal to the tolerance is within it


@dataclass(frozen=True)
class CostView:
    """'Cheaper' as the policy means it: ``prefer`` latency compares medians (p50; the p95 tail is mostly the
    scheduler's noise on a shared machine, and stays for the constraints): cheaper only when the intervals do
    not overlap and the median is lower by ``margin`` at least; ``prefer`` size compares exactly, ties within
    1%."""

    prefer: str
    margin: float

    def value(self, r: Ok) -> float:
        cost = r.evaluation.cost
        return cost.latency_p50_ms if self.prefer == "latency" else cost.size_bytes

    def interval(self, r: Ok) -> Interval:
        cost = r.evaluation.cost
        if self.prefer == "latency" and cost.latency_p50_interval is not None:
            return cost.latency_p50_interval
        return Interval(low=self.value(r), high=self.value(r))

    def cheaper(self, a: Ok, b: Ok) -> bool:
        """``a`` costs less than ``b`` beyond the noise."""
        va, vb = self.value(a), self.value(b)
        if self.prefer == "size":
            return va * (1 + SIZE_TIE) < vb
        return self.interval(a).high < self.interval(b).low and va * (1 + self.margin) <= vb

    @property
    def kind(self) -> str:
        return "latency" if self.prefer == "latency" else "size"

    def text(self, r: Ok) -> str:
        """"p50 latency 0.243 ms (0.238–0.249)", "size 4.91 MB"."""
        if self.prefer == "size":
            return f"size {size_text(r.evaluation.cost.size_bytes)}"
        ci = r.evaluation.cost.latency_p50_interval
        spread = f" ({ms(ci.low)}–{ms(ci.high)})" if ci is not None else ""
        return f"p50 latency {ms(self.value(r))} ms{spread}"

    def pair(self, a: Ok, b: Ok) -> str:
        """Two costs side by side: "p50 0.24 vs 0.25 ms", "4.91 vs 4.93 MB"."""
        if self.prefer == "size":
            return f"{size_text(a.evaluation.cost.size_bytes)} vs {size_text(b.evaluation.cost.size_bytes)}"
        return f"p50 {ms(self.value(a))} vs {ms(self.value(b))} ms"


def same_model(a: Ok, b: Ok) -> bool:
    """``a`` and ``b`` are the same model: the same parameter count and size, and the same output on every
    validation sample (to ``SAME_OUTPUTS``). Their two timings then differ by the machine's noise alone (they
    were measured at different moments), so neither is cheaper. Without recorded outputs no two models are
    known to be the same."""
    if a.predictions is None or b.predictions is None:
        return False
    ca, cb = a.evaluation.cost, b.evaluation.cost
    va, vb = a.predictions.val, b.predictions.val
    return (ca.params == cb.params and ca.size_bytes == cb.size_bytes and va.shape == vb.shape
            and bool(np.allclose(va, vb, rtol=0.0, atol=SAME_OUTPUTS)))


def twins(results: Sequence[Ok]) -> dict[str, Ok]:
    """Each of ``results`` (in suite order) that is the same model as one before it, to the first of them:
    the one kept."""
    kept: list[Ok] = []
    out: dict[str, Ok] = {}
    for r in results:
        first = next((k for k in kept if same_model(k, r)), None)
        if first is None:
            kept.append(r)
        else:
            out[r.name] = first
    return out


def same_model_text(a: Ok, b: Ok) -> str:
    """The evidence that ``a`` and ``b`` are the same model: "identical validation predictions, same 650
    parameters and size"."""
    pa, pb = a.predictions, b.predictions
    exact = pa is not None and pb is not None and np.array_equal(pa.val, pb.val)
    within = f"{SAME_OUTPUTS:.0e}".replace("e-0", "e-")  # 1e-6
    outputs = "identical validation predictions" if exact else f"validation predictions equal to {within}"
    return f"{outputs}, same {a.evaluation.cost.params:,} parameters and size"


def ms(v: float) -> str:
    """Milliseconds as ``practica.text.ms`` prints them, without the unit: 0.243, 4.52, 123."""
    return text.ms(v).removesuffix(" ms")


def size_text(n_bytes: int | float) -> str:
    """The one size format (``practica.text.size``): 117_000 → '117 kB', as the report's table prints it."""
    return text.size(n_bytes)
