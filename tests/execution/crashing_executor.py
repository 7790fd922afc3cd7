"""An executor whose worker dies while running one named unit: for the tests of what a killed worker costs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path


class CrashingExecutor:
    """``inner``, but the unit named ``unit`` runs inside ``wrap`` (from ``unit_functions``), which kills its
    worker: once mid-way (``die_mid_training``, ``die_mid_trial``: ``flag`` is the file that marks the kill as
    done, so the retry runs through) or at every attempt (``die_every_time``, no flag)."""

    def __init__(self, inner, wrap, flag: Path | None, *, unit: str) -> None:
        self.inner, self.wrap, self.flag, self.unit = inner, wrap, flag, unit
        self.kind, self.in_process = inner.kind, inner.in_process
        self.unit_cpus, self.gpus = inner.unit_cpus, inner.gpus

    def describe(self) -> str:
        return self.inner.describe()

    def map(self, units):
        def crashing(unit):
            head = (str(self.flag),) if self.flag else ()
            return replace(unit, fn=self.wrap, args=(*head, unit.fn, unit.args))

        return self.inner.map([crashing(u) if u.name == self.unit else u for u in units])

    def close(self) -> None:
        self.inner.close()
