"""When a drift statistic raises an alert: the defaults, each with why, overridable one by one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    """Alert thresholds of the drift checks.

    >>> Thresholds(psi=0.1).ks
    0.15
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # PSI above 0.25 is the credit-scoring rule of thumb for "the population has changed"; 0.1–0.25 is "watch".
    psi: float = Field(0.25, gt=0)
    # The largest gap between the live and the reference cumulative distributions (0–1) ...
    ks: float = Field(0.15, gt=0, le=1)
    # ... and, for it, PSI, an image channel's mean and the chi-square and binomial tests, how unlikely the gap
    # must be by chance alone.
    p_value: float = Field(0.001, gt=0, lt=1)
    # An image channel's mean moved by this much on the 0–1 scale (13 grey levels of 255), and by more than
    # chance allows (p_value): over 30 CIFAR-10 images the mean strays past 0.05 in one window in ten.
    channel_shift: float = Field(0.05, gt=0)
    # The share of inputs flagged out of distribution (calibrated to ~1% on validation).
    ood_flag_rate: float = Field(0.05, gt=0, le=1)
    # The window's mean OOD score over the reference's mean.
    ood_score_ratio: float = Field(1.5, gt=1)
    # The window's mean confidence below the reference's by this much (absolute, 0–1).
    confidence_drop: float = Field(0.1, gt=0, le=1)
    # Fewer rows than this in the window: every statistic is shown, none alerts (too noisy to call).
    min_rows: int = Field(30, ge=1)
