"""What the resume tests share: training events that stop a run mid-epoch as a kill would, and a history
less its timings (which two runs of the same training never share)."""

from __future__ import annotations


class Kill(Exception):
    pass


class KillAt:
    """Events that raise ``Kill`` at step ``step`` of epoch ``epoch``, as a kill would interrupt the loop."""

    def __init__(self, epoch: int, step: int):
        self.target, self.epoch = (epoch, step), 0

    def epoch_start(self, epoch, epochs, steps):
        self.epoch = epoch

    def step(self, done):
        if (self.epoch, done) == self.target:
            raise Kill

    def epoch_end(self, record): ...


def without_seconds(history):
    return [{k: v for k, v in r.__dict__.items() if k != "seconds"} for r in history.epochs]
