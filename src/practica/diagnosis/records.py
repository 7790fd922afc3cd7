"""What the diagnosis stage hands on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["healthy", "overfitting", "underfitting", "plateau", "diverged", "undertrained"]


@dataclass(frozen=True)
class Finding:
    """One verdict that holds, with the numbers behind it and what to do about it."""

    verdict: Verdict
    evidence: str  # e.g. "val loss lowest 0.82 at epoch 7, 1.05 at epoch 20 (+28%) while train loss fell 0.60 → 0.21"
    advice: str  # e.g. "more regularization (dropout, weight decay) or augmentation; early stopping"


@dataclass(frozen=True)
class Diagnosis:
    """``verdict`` is the finding that matters most; ``findings`` lists every one that holds,
    most important first. ``summary`` is one plain sentence for tables."""

    verdict: Verdict
    summary: str
    findings: tuple[Finding, ...]
    facts: tuple[str, ...] = ()  # neutral numbers: best epoch, final gap, epochs run
