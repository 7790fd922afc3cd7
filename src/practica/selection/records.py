"""What the selection stage hands on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from practica.evaluation.records import Interval


@dataclass(frozen=True)
class Ranked:
    experiment: str
    value: float | None  # the policy's metric on the validation split; None if it failed
    # "chosen"; "not chosen": eligible, but another was preferred (worse beyond the tolerance, costlier, or
    # lost a tie); "rejected": failed, diverged, or broke a constraint.
    status: Literal["chosen", "not chosen", "rejected"]
    reason: str
    interval: Interval | None = None  # the metric's bootstrap interval over the validation samples
    difference: Interval | None = None  # paired bootstrap interval of this model's metric minus the chosen's
    p_value: float | None = None  # McNemar's exact test against the chosen (classifiers)
    tie: bool = False  # tied with the chosen on the metric and on cost, within noise: a tie-break decided


@dataclass(frozen=True)
class Decision:
    chosen: str | None  # None when no experiment satisfies the policy
    metric: str
    summary: str  # one paragraph: which model and why
    ranking: tuple[Ranked, ...]  # best first
