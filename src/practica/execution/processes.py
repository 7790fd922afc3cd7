"""The processes executor: N local worker processes (spawn), each running one unit at a time.

Each worker has its own pipe and runs one unit at a time, so a worker that dies is the death of exactly
the unit it was running: that unit is retried (once) in a fresh worker, and no other unit is charged.
(A ``ProcessPoolExecutor`` cannot say as much: one dead worker breaks the whole pool and fails every
unit in flight with ``BrokenProcessPool``.) Workers live from the first ``map`` to ``close()`` (a map
stopped early stops its workers), so the imports (torch) and the data a unit loads are paid once per
worker, not once per unit, nor once per batch of a study's trials.

``spawn``, not ``fork``: a forked child inherits the parent's torch threads and locks, which can deadlock.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from practica.execution.units import (
    MAX_ATTEMPTS,
    UnitResult,
    WorkUnit,
    given_up,
    reraise,
    run_in_worker,
    timed,
)


def serve(conn: Connection) -> None:
    """A worker process: receive a unit, run it, send back ``("value", v)`` or ``("error", exception,
    traceback)``; until it receives None, or the parent has gone."""
    while True:
        try:
            unit = conn.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        if unit is None:
            return
        try:
            message: tuple[Any, ...] = ("value", run_in_worker(unit))
        except Exception as err:  # the caller's to see: sent back and raised there
            message = ("error", err, traceback.format_exc())
        try:
            conn.send(message)
        except Exception as err:  # the value or the exception does not pickle
            conn.send(("error", RuntimeError(f"unit '{unit.name}' gave {message[0]} that cannot be sent back: "
                                             f"{err}"), traceback.format_exc()))


@dataclass
class _Attempt:
    unit: WorkUnit
    started: float
    deaths: tuple[str, ...]


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    attempt: _Attempt | None = None

    def finished(self) -> bool:
        return self.conn.poll() or not self.process.is_alive()

    def stop(self) -> None:
        """Gone at once: an idle worker holds nothing, and a busy one's unit was abandoned by the caller."""
        self.process.terminate()
        self.process.join()
        self.conn.close()


class ProcessExecutor:
    kind = "processes"
    in_process = False

    def __init__(self, *, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._idle: list[_Worker] = []  # kept from a map that ran to its end, for the next (a study's batches)
        weakref.finalize(self, _stop_all, self._idle)  # an executor dropped without close(): its workers too

    @property
    def unit_cpus(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def gpus(self) -> int:
        return 0  # the workers share whatever device training picks

    def describe(self) -> str:
        return f"processes executor ({self.workers} worker process{'es' if self.workers != 1 else ''})"

    def map(self, units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
        """Each unit's result as it finishes (completion order: a slow unit holds back no other's)."""
        context = multiprocessing.get_context("spawn")
        waiting = deque(_Attempt(unit, time.perf_counter(), ()) for unit in units)
        workers = [w for w in self._idle if w.process.is_alive()]
        _stop_all([w for w in self._idle if w not in workers])
        self._idle.clear()
        finished = False
        try:
            while waiting or any(w.attempt for w in workers):
                for worker in workers:  # the idle first, then new workers up to the limit
                    if waiting and worker.attempt is None:
                        worker.attempt = waiting.popleft()
                        worker.conn.send(worker.attempt.unit)
                while waiting and len(workers) < self.workers:
                    parent_end, child_end = context.Pipe()
                    process = context.Process(target=serve, args=(child_end,), daemon=True,
                                              name=f"practica-worker-{len(workers) + 1}")
                    process.start()
                    child_end.close()  # the child's end, closed here: a dead child then reads as end-of-file
                    workers.append(_Worker(process, parent_end, waiting.popleft()))
                    parent_end.send(workers[-1].attempt.unit)  # type: ignore[union-attr]
                busy = [w for w in workers if w.attempt is not None]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in [w for w in busy if w.finished()]:
                    attempt, worker.attempt = worker.attempt, None
                    assert attempt is not None  # busy
                    result = self._collect(worker, attempt)
                    if isinstance(result, UnitResult):
                        yield result
                        continue
                    workers.remove(worker)  # dead: replaced by a fresh one when there is work left
                    deaths = (*attempt.deaths, result)
                    if len(deaths) < MAX_ATTEMPTS:  # once more, from its checkpoint
                        waiting.appendleft(_Attempt(attempt.unit, attempt.started, deaths))
                    else:
                        yield timed(attempt.unit, attempt.started, failure=given_up(attempt.unit.name, deaths),
                                    deaths=deaths)
            finished = True
        finally:  # stopped early (an exception, Ctrl-C, the caller gave up): no worker outlives the map
            if finished:  # every worker idle: kept for the next map, its imports and data loaded, until close()
                self._idle.extend(workers)
            else:
                _stop_all(workers)

    def _collect(self, worker: _Worker, attempt: _Attempt) -> UnitResult | str:
        """The unit's result, or why its worker died (an exception the unit raised is raised here)."""
        try:
            message = worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):  # died while sending, or before
            message = None
        if message is None:
            worker.process.join()
            worker.conn.close()
            return _death(worker.process.exitcode)
        if message[0] == "error":
            reraise(message[1], message[2])
        return timed(attempt.unit, attempt.started, message[1], deaths=attempt.deaths)

    def close(self) -> None:
        """Stop the workers kept between maps."""
        _stop_all(self._idle)


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()
    workers.clear()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code:
        return f"exited with code {code} before giving a result"
    return "exited without giving a result"
