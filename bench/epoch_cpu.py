"""Training events that read the process's CPU time over each epoch: with the epoch's wall time, how many
cores a training loop really used. Standard library only: a bench worker imports it (``bench/`` is its path).

    from epoch_cpu import EpochCpuClock
    clock = EpochCpuClock()
    fit(..., events=clock)
    cores_used = sum(clock.cpu[1:]) / sum(r.seconds for r in history.epochs[1:])
"""

from __future__ import annotations

import time


class EpochCpuClock:
    """``fit``'s events (``practica.training.trainer.TrainingEvents``); ``cpu``: each epoch's CPU seconds, all
    threads together."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self._started = 0.0

    def epoch_start(self, epoch, epochs, steps) -> None:
        self._started = time.process_time()

    def step(self, done) -> None:
        pass

    def epoch_end(self, record) -> None:
        self.cpu.append(time.process_time() - self._started)
