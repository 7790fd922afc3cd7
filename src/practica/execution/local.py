"""The in-process executor: each unit in turn, in the caller's process (the default; practica's behaviour
before executors existed).

Nothing is pickled: a unit may carry objects a worker could not receive (the caller's data, a progress
display). A unit's exception comes out of ``map`` unchanged. There is no retry: a dead worker here is the
caller's own process, and ``practica run --resume`` is what picks the work up again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

from practica.execution.units import UnitResult, WorkUnit, timed


class LocalExecutor:
    kind = "local"
    in_process = True

    @property
    def unit_cpus(self) -> int:
        return os.cpu_count() or 1

    @property
    def gpus(self) -> int:
        return 0  # whichever device training picks; no unit asks for one

    def describe(self) -> str:
        return "in-process executor (one experiment after another)"

    def map(self, units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
        for unit in units:
            started = time.perf_counter()
            yield timed(unit, started, unit.run())

    def close(self) -> None: ...
