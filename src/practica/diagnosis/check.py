"""One rule's result, before the rules are ordered into a Diagnosis."""

from __future__ import annotations

from dataclasses import dataclass

from practica.diagnosis.records import Finding


@dataclass(frozen=True)
class Check:
    """A finding that holds, with the short phrase the summary uses for it.

    ``size`` is how much accuracy the problem costs, as a fraction: the train-val gap for
    overfitting (variance), the shortfall from the reference for underfitting (avoidable bias).
    It orders those two when both hold; the other verdicts have a fixed rank. ``never_learned``
    marks the underfitting of a run that never left chance (a plateau then says nothing new).
    """

    finding: Finding
    headline: str
    size: float = 0.0
    never_learned: bool = False
