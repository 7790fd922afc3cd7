"""What a run is measured against: chance, and the best accuracy known to be reachable."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DiagnosisContext:
    """The yardsticks for one suite.

    ``chance_accuracy`` is 1 / number of classes: the floor a model that learned nothing sits on.
    ``reference_accuracy`` is the best validation accuracy reached in the suite, or a declared
    reachable (human-level, published) figure; ``None`` when there is none, and then a run is
    called underfitting only when it never learned. ``reference_name`` names it in the evidence,
    e.g. "resnet20, the suite's best" or "the declared reachable accuracy".

    >>> DiagnosisContext.for_classes(10, reference_accuracy=0.83, reference_name="resnet20").chance_accuracy
    0.1
    """

    chance_accuracy: float
    reference_accuracy: float | None = None
    reference_name: str = ""
    images: bool = True  # the inputs are images: augmentation is advice that applies

    def __post_init__(self) -> None:
        if not (math.isfinite(self.chance_accuracy) and 0.0 < self.chance_accuracy < 1.0):
            raise ValueError(
                f"DiagnosisContext.chance_accuracy must be 1 / number of classes, strictly between 0 and 1; "
                f"got {self.chance_accuracy!r}. Use DiagnosisContext.for_classes(n_classes)."
            )
        ref = self.reference_accuracy
        if ref is not None and not (math.isfinite(ref) and 0.0 < ref <= 1.0):
            raise ValueError(
                f"DiagnosisContext.reference_accuracy must be an accuracy in (0, 1] or None; got {ref!r}. "
                "Pass a fraction (0.83, not 83), or None when the suite has no reference."
            )

    @classmethod
    def for_classes(
        cls, n_classes: int, *, reference_accuracy: float | None = None, reference_name: str = ""
    ) -> DiagnosisContext:
        """The context for an ``n_classes``-way classification."""
        if n_classes < 2:
            raise ValueError(f"a classification needs at least 2 classes; got n_classes={n_classes}")
        return cls(1.0 / n_classes, reference_accuracy, reference_name)

    @property
    def n_classes(self) -> int:
        return round(1.0 / self.chance_accuracy)

    @property
    def uniform_loss(self) -> float:
        """Cross-entropy of a uniform guess, ln(classes): where an untrained model's loss starts."""
        return math.log(1.0 / self.chance_accuracy)

    @property
    def reference_label(self) -> str:
        return self.reference_name or "the reference"

    def lift(self, accuracy: float) -> float:
        """How far ``accuracy`` is from chance toward 100%, as a fraction (0 at chance, 1 at perfect)."""
        return (accuracy - self.chance_accuracy) / (1.0 - self.chance_accuracy)
