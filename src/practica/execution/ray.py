"""The Ray executor: each unit a Ray task with its resource request (``num_cpus``, ``num_gpus``), on a
cluster (``address``: what ``ray start --head`` printed, or ``auto``) or on a Ray instance started here.

Ray's own retries are off (``max_retries=0``): the executor retries a unit whose worker died once,
itself, so that it can say which unit died and why, and report the second death rather than retry on.
Workers must import practica (the same version) and reach the run directory and the data cache at
the same paths: a shared filesystem, or one machine.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from practica.errors import ExecutionError
from practica.execution.units import MAX_ATTEMPTS, UnitResult, WorkUnit, given_up, run_in_worker, timed


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutionError(
            "the Ray executor needs Ray, which is not installed; install it with: pip install 'practica[ray]'"
        ) from None
    return ray


def _death_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The errors that mean the task's worker (or its node) died, not that the task raised."""
    names = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError", "ObjectLostError")
    return tuple(getattr(ray.exceptions, name) for name in names if hasattr(ray.exceptions, name))


class RayExecutor:
    kind = "ray"
    in_process = False

    def __init__(self, *, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers  # None: as many units in flight as the cluster can place
        self._started_here = False

    @property
    def unit_cpus(self) -> int:
        return 1

    @property
    def gpus(self) -> int:
        return int(self._connect().cluster_resources().get("GPU", 0))

    def describe(self) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        return f"Ray executor on {where}" + (f", at most {self.workers} units at once" if self.workers else "")

    def _connect(self) -> Any:
        ray = import_ray()
        try:
            if self.address is not None:  # a wrong address is said even where a driver is connected already
                _check_reachable(self.address)
            if ray.is_initialized():  # a driver already connected (a notebook, a test session): use it
                return ray
            if self.address is None:
                ray.init(num_cpus=self.workers, include_dashboard=False, logging_level="warning")
            else:
                ray.init(address=self.address, logging_level="warning")
        except ConnectionError as err:
            raise ExecutionError(
                f"cannot reach a Ray cluster at '{self.address}' ({err}); start one with `ray start --head` and "
                "give the address it prints (e.g. --address 127.0.0.1:6379), or leave --address out for a local "
                "instance."
            ) from None
        self._started_here = True
        return ray

    def map(self, units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
        """Each unit's result as it finishes (completion order: a slow unit holds back no other's)."""
        ray = import_ray()
        self._connect()
        task = ray.remote(run_in_worker)
        deaths_mean = _death_errors(ray)
        # A stack: pop() gives the next unit; a retry is pushed back on top, to run next.
        waiting: list[tuple[WorkUnit, float, tuple[str, ...]]] = [(unit, time.perf_counter(), ())
                                                                    for unit in reversed(units)]
        in_flight: dict[Any, tuple[WorkUnit, float, tuple[str, ...]]] = {}
        try:
            while waiting or in_flight:
                while waiting and (self.workers is None or len(in_flight) < self.workers):
                    unit, started, deaths = waiting.pop()
                    ref = task.options(num_cpus=unit.needs.cpus, num_gpus=unit.needs.gpus, max_retries=0,
                                       name=unit.name).remote(unit)
                    in_flight[ref] = (unit, started, deaths)
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                unit, started, deaths = in_flight.pop(ref)
                try:
                    value = ray.get(ref)
                except deaths_mean as err:
                    deaths = (*deaths, _reason(err))
                    if len(deaths) < MAX_ATTEMPTS:  # once more, from its checkpoint
                        waiting.append((unit, started, deaths))
                    else:
                        yield timed(unit, started, failure=given_up(unit.name, deaths), deaths=deaths)
                    continue
                except ray.exceptions.RayTaskError as err:  # the unit raised: raised here, as its own type
                    raise err.as_instanceof_cause() from None
                yield timed(unit, started, value, deaths=deaths)
        finally:  # stopped early: nothing left running for a caller that has gone
            for ref in in_flight:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Shut down the Ray instance this executor started (one it found running is left alone)."""
        if self._started_here:
            import_ray().shutdown()
            self._started_here = False


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) address that accepts no connection raises ``ConnectionError``
    at once: ``ray.init`` itself keeps retrying an unreachable address for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():  # auto, or a form Ray resolves itself
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ConnectionError(f"nothing answers at {host}:{port}: {err.strerror or err}") from None


def _reason(err: BaseException) -> str:
    """The first line of Ray's message: which worker, and why (killed, out of memory, node lost)."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"[:300]
