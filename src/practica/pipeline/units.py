"""The experiments of a suite as units of work: each one trained, scored and recorded by whichever executor
runs it (``practica.execution``), then read back from the run directory by the run.

A unit (``train_job``) does what the run did for one experiment before executors: pick up what a killed
attempt left (its finished result, or its epoch checkpoint), train, score on validation and test, and
write ``result.json``, the weights and the predictions into ``experiments/<name>/``; an error practica
raises on purpose, or a library's run-time error, becomes a ``Failed`` record there. The run then reads
every record back, so the stages after training never know which executor ran it.

The data: a unit in the run's own process uses the run's splits as they are; a worker process loads them
again from the data cache (the decoded set and the cleaning decisions the run just cached) and checks
their fingerprint against the run's, so no array is pickled to a worker.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from practica.config.schema import ExperimentSpec, Suite
from practica.data.records import Splits
from practica.errors import PracticaError, RunError
from practica.execution import Executor, WorkUnit
from practica.pipeline import experiment as one_experiment
from practica.pipeline.rundir import RunDir
from practica.results import Failed, Trained

if TYPE_CHECKING:
    from practica.evaluation.predictors import Predictor
    from practica.training.trainer import TrainingEvents


@dataclass(frozen=True)
class ExperimentJob:
    """Everything a worker needs to train one experiment of a run, and nothing large: the suite is read from
    the run's suite.yaml and the data from the cache, unless the job runs in the run's own process."""

    experiment: str
    run_path: Path
    fingerprint: str  # the run's data: the worker's splits must match it
    resume: bool
    cache_dir: str | None  # the run's PRACTICA_CACHE_DIR, where the worker finds the decoded data
    suite: Suite | None = None  # in the run's own process only: its suite and splits, as they are
    splits: Splits | None = None


def train_job(job: ExperimentJob, events: Callable[[], TrainingEvents | None] | None = None) -> Predictor | None:
    """Train, score and record one experiment (a unit of work). Its outcome is in the run directory; the
    trained model comes back only to a caller in the same process (``job.splits`` given), which measures it.

    ``events``: called as training begins, for the progress display (in-process runs only)."""
    with run_cache_dir(job.cache_dir):
        suite = job.suite or RunDir(job.run_path).read_suite()
        splits = job.splits if job.splits is not None else worker_splits(suite, job.fingerprint)
        exp = suite.experiment(job.experiment)
        exp_dir = RunDir(job.run_path).experiment(exp.name)
        # A retry after a dead worker finds what the dead attempt left: its finished result (kept), or the
        # checkpoint of its last epoch (training continues from it).
        done, _ = one_experiment.resume_state(exp, exp_dir)
        if done is not None:
            return None
        progress = events() if events is not None else None
        try:
            _, predictor = one_experiment.train_experiment(
                exp, suite, splits, exp_dir, resume=job.resume or exp_dir.checkpoint.is_file(), events=progress)
        except PracticaError as err:
            # One broken experiment should not cost the others; the report says why it failed.
            one_experiment.failed(exp, exp_dir, f"{type(err).__name__}: {err}")
            return None
        except (RuntimeError, ValueError, MemoryError) as err:
            # Not an error practica raises on purpose: possibly a bug, so its traceback is kept.
            one_experiment.failed(exp, exp_dir, f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
            return None
    return predictor if job.splits is not None else None


def train_all(
    suite: Suite, splits: Splits, run: RunDir, *, resume: bool, executor: Executor, say: Callable[[str], None],
    start: Callable[[int, int, ExperimentSpec], TrainingEvents | None],
    done: Callable[[ExperimentSpec, Trained | Failed], None],
) -> tuple[dict[str, Trained | Failed], dict[str, Predictor]]:
    """Every experiment of ``suite`` trained (or kept, on a resume) by ``executor``: each one's outcome as
    recorded in the run directory, in the suite's order, and the trained models an in-process executor
    handed back. ``say``, ``start`` and ``done``: the run's reporter (``start`` for in-process runs only)."""
    trained: dict[str, Trained | Failed] = {}
    units: list[WorkUnit] = []
    total = len(suite.experiments)
    cache = os.environ.get("PRACTICA_CACHE_DIR")
    gpus: int | None = None  # asked of the executor once there is work (Ray connects to answer)
    for i, exp in enumerate(suite.experiments, 1):
        exp_dir = run.experiment(exp.name)
        kept, notes = one_experiment.resume_state(exp, exp_dir) if resume else (None, [])
        for note in notes:
            say(f"[{i}/{total}] {exp.name}: {note}")
        if kept is not None:
            trained[exp.name] = kept
            say(f"[{i}/{total}] {exp.name}: already trained, kept")
            continue
        job = ExperimentJob(exp.name, run.path, splits.fingerprint, resume, cache,
                            *((suite, splits) if executor.in_process else ()))
        events = {"events": functools.partial(start, i, total, exp)} if executor.in_process else {}
        gpus = executor.gpus if gpus is None else gpus
        needs = {"cpus": executor.unit_cpus, "gpus": 1 if gpus and exp.model.kind != "sklearn" else 0}
        units.append(WorkUnit(exp.name, train_job, (job,), events, needs))
    if units and not executor.in_process:
        say(f"Training {len(units)} experiment{'s' if len(units) != 1 else ''} with the {executor.describe()}")
    in_memory: dict[str, Predictor] = {}
    for result in executor.map(units):
        exp = suite.experiment(result.name)
        exp_dir = run.experiment(exp.name)
        for death in result.deaths[: 1 if result.ok else 0]:
            say(f"{exp.name}: its worker died ({death}); it ran again from its checkpoint")
        if result.ok:
            outcome = exp_dir.read_result(exp)
            if result.value is not None:
                in_memory[exp.name] = result.value
        else:
            assert result.failure is not None  # not ok: a failure says why
            outcome = one_experiment.failed(exp, exp_dir, result.failure)
        trained[exp.name] = outcome
        done(exp, outcome)
    return {exp.name: trained[exp.name] for exp in suite.experiments}, in_memory


# A worker runs several units of a run (experiments, trials): the last splits it loaded, by the run's data
# fingerprint.
_loaded: dict[str, Splits] = {}


def worker_splits(suite: Suite, fingerprint: str) -> Splits:
    """The run's splits in a worker: loaded from the data cache, checked against the run's fingerprint (kept
    for the worker's next unit of the same run)."""
    if (splits := _loaded.get(fingerprint)) is not None:
        return splits
    from practica.data import prepare_data

    splits = prepare_data(suite.dataset)
    if splits.fingerprint != fingerprint:
        raise RunError(
            f"the data this worker loaded (fingerprint {splits.fingerprint[:12]}) is not the data of the run "
            f"({fingerprint[:12]}); every worker must see the same data files at the same paths as the run."
        )
    _loaded.clear()
    _loaded[fingerprint] = splits
    return splits


@contextmanager
def run_cache_dir(path: str | None) -> Iterator[None]:
    """The run's data cache, for the length of a unit (a worker started elsewhere may not have it set)."""
    before = os.environ.get("PRACTICA_CACHE_DIR")
    if path is not None:
        os.environ["PRACTICA_CACHE_DIR"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PRACTICA_CACHE_DIR", None)
        else:
            os.environ["PRACTICA_CACHE_DIR"] = before
