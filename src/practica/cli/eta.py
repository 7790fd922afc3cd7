"""How long a suite has left to train, from the epochs timed so far and the epochs still to run.

An estimate, and a high one: each network is counted at its full ``train.epochs``, which early
stopping may cut short; baselines, the cost measurements and the report are counted as nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class SuiteClock:
    """The suite's remaining training time. ``start`` each experiment (1-based, as the reporter hears it),
    then ``epoch_done`` after each of its epochs; ``left`` is None until an epoch has been timed.

        >>> clock = SuiteClock([10, 0, 10])
        >>> clock.start(1); clock.epoch_done(1, 6.0)
        >>> clock.left()  # 9 epochs of this one and 10 of the last, at 6 s each
        114.0
    """

    def __init__(self, epochs: Sequence[int]) -> None:
        self.epochs = list(epochs)  # per experiment, in suite order; 0 for a baseline (no epochs)
        self.current = 0  # 0-based index of the experiment training now
        self.done = 0  # epochs of the current experiment finished (a resumed one starts past 0)
        self.timed: list[float] = []  # seconds of every epoch timed, every experiment
        self.timed_here: list[float] = []  # the current experiment's

    def start(self, index: int) -> None:
        self.current, self.done, self.timed_here = index - 1, 0, []

    def epoch_done(self, epoch: int, seconds: float) -> None:
        self.done = epoch
        self.timed.append(seconds)
        self.timed_here.append(seconds)

    def left(self) -> float | None:
        if not self.timed:
            return None
        overall = sum(self.timed) / len(self.timed)
        # This experiment's own pace for its remaining epochs; the suite's mean for the experiments after it.
        here = sum(self.timed_here) / len(self.timed_here) if self.timed_here else overall
        this_one = max(0, self.epochs[self.current] - self.done) if self.current < len(self.epochs) else 0
        return here * this_one + overall * sum(self.epochs[self.current + 1:])


def describe_left(seconds: float | None) -> str:
    """``about 3 min left``, ``about 1 h 20 min left``, ``under a minute left``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute left"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left" if minutes % 60 else f"about {minutes // 60} h left"
