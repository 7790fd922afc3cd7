"""What the selection stage hands on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Ranked:
    experiment: str
    value: float | None  # the policy's metric on the validation split; None if it failed
    status: Literal["chosen", "rejected"]
    reason: str


@dataclass(frozen=True)
class Decision:
    chosen: str | None  # None when no experiment satisfies the policy
    metric: str
    summary: str  # one paragraph: which model and why
    ranking: tuple[Ranked, ...]  # best first
