"""Executors: independent units of work (the experiments of a suite, the trials of a study) run in this
process, in N local worker processes, or on a Ray cluster, with the same results.

- ``units.py``: ``WorkUnit`` (a picklable call, its resources, a name), ``UnitResult``, the ``Executor``
  protocol and the retry rule (a unit whose worker died runs once more, then is reported failed);
- ``local.py``, ``processes.py``, ``ray.py``: the three executors.

Example::

    from practica.execution import WorkUnit, get_executor

    executor = get_executor("processes", workers=2)
    for result in executor.map([WorkUnit("a", pow, (2, 10)), WorkUnit("b", pow, (3, 3))]):
        print(result.name, result.value if result.ok else result.failure)
    executor.close()
"""

from __future__ import annotations

from typing import Literal, get_args

from practica.errors import ExecutionError
from practica.execution.local import LocalExecutor
from practica.execution.processes import ProcessExecutor
from practica.execution.ray import RayExecutor
from practica.execution.units import Executor, Resources, UnitResult, WorkUnit

Kind = Literal["local", "processes", "ray"]
KINDS: tuple[str, ...] = get_args(Kind)

__all__ = ["KINDS", "Executor", "Kind", "Resources", "UnitResult", "WorkUnit", "get_executor"]


def get_executor(kind: str = "local", *, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor of ``kind``: ``local`` (in this process, one unit after another), ``processes``
    (``workers`` local processes; default one per CPU) or ``ray`` (``address`` of a cluster, else a local
    instance; ``workers``: at most that many units at once). Close it when done (a Ray instance it
    started is shut down)."""
    if kind not in KINDS:
        raise ExecutionError(f"unknown executor '{kind}'; choose one of {', '.join(KINDS)}.")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ExecutionError(f"workers must be a whole number of 1 or more; got {workers!r}.")
    if address is not None and kind != "ray":
        raise ExecutionError(f"an address (got '{address}') is for the Ray executor; add --executor ray, "
                             "or drop --address.")
    if kind == "local":
        if workers not in (None, 1):
            raise ExecutionError(f"the local executor runs one unit at a time in this process; --workers {workers} "
                                 "needs --executor processes or --executor ray.")
        return LocalExecutor()
    if kind == "processes":
        return ProcessExecutor(workers=workers)
    return RayExecutor(address=address, workers=workers)
