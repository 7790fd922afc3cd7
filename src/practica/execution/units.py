"""Units of work and what comes back from them: the vocabulary every executor shares.

A ``WorkUnit`` is a picklable call: a module-level function (a worker imports it by name), its
arguments, the resources it asks for and a name. An executor gives back one ``UnitResult`` per unit,
never fewer: a unit whose *worker died* (killed, out of memory, its node lost) is run once more, and
its function picks up from whatever checkpoint the first attempt left; a second death is reported as
the unit's ``failure``, with both reasons.

An exception raised by the unit's function is not a dead worker: it comes out of ``map`` as it would
from a plain call (with the worker's traceback attached as its cause), because it is either a bug or
an error the function chose not to turn into a result. A function that wants its failures as results
catches them itself (the suite's experiment unit records a ``Failed`` experiment).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from practica.errors import ExecutionError

MAX_ATTEMPTS = 2  # the first run, and one retry after its worker died


@dataclass(frozen=True)
class Resources:
    """What one unit asks of the machine that runs it: CPUs (its torch threads) and GPUs."""

    cpus: int = 1
    gpus: float = 0

    def __post_init__(self) -> None:
        if not isinstance(self.cpus, int) or self.cpus < 1:
            raise ExecutionError(f"a unit's resources ask for cpus={self.cpus!r}; give a whole number of 1 or more.")
        if self.gpus < 0:
            raise ExecutionError(f"a unit's resources ask for gpus={self.gpus!r}; give 0 or more.")


@dataclass(frozen=True)
class WorkUnit:
    """``fn(*args, **kwargs)`` under ``name``, asking for ``resources`` (``{"cpus": 1, "gpus": 0}`` or a
    ``Resources``). ``fn`` and the arguments are pickled for the processes and Ray executors.

    Example::

        units = [WorkUnit(f"square-{i}", pow, (i, 2)) for i in range(4)]
        [r.value for r in get_executor("processes", workers=2).map(units)]
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    resources: Resources | Mapping[str, float] = field(default_factory=Resources)

    def __post_init__(self) -> None:
        if isinstance(self.resources, Mapping):
            unknown = set(self.resources) - {"cpus", "gpus"}
            if unknown:
                raise ExecutionError(f"unit '{self.name}': unknown resources {sorted(unknown)}; "
                                     "a unit asks for 'cpus' and 'gpus' only.")
            object.__setattr__(self, "resources", Resources(**self.resources))  # type: ignore[arg-type]

    @property
    def needs(self) -> Resources:
        assert isinstance(self.resources, Resources)  # made one in __post_init__
        return self.resources

    def run(self) -> Any:
        return self.fn(*self.args, **dict(self.kwargs))


@dataclass(frozen=True)
class UnitResult:
    """One unit's outcome. ``failure``: why it gave no value (its worker died on every attempt), None when
    it ran to the end; ``deaths``: why each worker that ran it died (one, when a retry then succeeded)."""

    name: str
    value: Any = None
    failure: str | None = None
    attempts: int = 1
    deaths: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class Executor(Protocol):
    """Runs units; ``map`` yields one result per unit, in the order they finish."""

    kind: str
    in_process: bool  # True: units run in the caller's process, their arguments and values are not copied

    @property
    def unit_cpus(self) -> int: ...  # the CPUs a unit may ask for, by default, so that all workers fit
    @property
    def gpus(self) -> int: ...  # the GPUs units may ask for; 0 where none are handed out

    def describe(self) -> str: ...
    def map(self, units: Sequence[WorkUnit]) -> Iterator[UnitResult]: ...
    def close(self) -> None: ...


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, chained as its cause when it is raised here."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def reraise(error: BaseException, remote_traceback: str) -> NoReturn:
    """Raise a worker's exception here, its own traceback (in the worker) shown as the cause."""
    error.__cause__ = RemoteTraceback(remote_traceback)
    raise error


def given_up(name: str, deaths: Sequence[str]) -> str:
    """The failure of a unit whose worker died on every attempt."""
    return (f"the worker running '{name}' died on each of its {len(deaths)} attempts ({'; then '.join(deaths)}); "
            "give it more memory, or resume the run to try it again")


def limit_threads(cpus: int) -> None:
    """Torch's intra-op threads to the unit's CPUs, so that units sharing a machine do not oversubscribe it."""
    os.environ["OMP_NUM_THREADS"] = str(cpus)  # for libraries loaded after this
    try:
        import torch
    except ImportError:  # a unit that needs no torch, on a worker without it
        return
    torch.set_num_threads(cpus)


def run_in_worker(unit: WorkUnit) -> Any:
    """What a worker process runs for a unit: the thread limit, then the unit."""
    limit_threads(unit.needs.cpus)
    return unit.run()


def timed(unit: WorkUnit, started: float, value: Any = None, *, failure: str | None = None,
          deaths: tuple[str, ...] = ()) -> UnitResult:
    return UnitResult(unit.name, value, failure, attempts=len(deaths) + (failure is None), deaths=deaths,
                      seconds=time.perf_counter() - started)
