"""Optional logging of a suite run to MLflow and TensorBoard (``pip install 'practica[tracking]'``).

The mapping: a practica suite run is an MLflow experiment (``<suite>/<run id>``), each of its experiments an
MLflow run, and a TensorBoard run folder ``<logdir>/<run id>/<experiment>``. The runner calls ``Tracking`` at
two points: once every experiment's result is final (trained, diagnosed, costed, with intervals), and once the
decision, bundle and report are written. Each experiment is logged after the fact, from its ``History``, not
from live training events: a resumed run logs the epochs it trained before it was stopped too, and a
tracker can never slow or break the training loop.

A tracker that fails (server unreachable, bad URI) costs the run nothing: one warning, and the run goes on
without it. One asked for but not installed is an error before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from practica.config.schema import TrackingSpec
from practica.results import ExperimentResult
from practica.tracking.base import Tracker
from practica.tracking.records import ExperimentLog, SuiteLog, experiment_log

__all__ = ["SuiteLog", "Tracking", "check_tracking", "open_tracking"]


def check_tracking(spec: TrackingSpec) -> None:
    """Raise ``TrackingError`` now, before any training, when a tracker asked for is not installed."""
    from practica.tracking.base import require

    if spec.mlflow is not None:
        require("mlflow", "MLflow")
    if spec.tensorboard is not None:
        require("tensorboard", "TensorBoard")


class Tracking:
    """The trackers of one suite run; each call reaches every tracker still working."""

    def __init__(self, trackers: Sequence[Tracker], say: Callable[[str], None], *, suite: str, run_id: str) -> None:
        self.trackers = list(trackers)
        self.say = say
        self.suite = suite
        self.run_id = run_id

    def start(self) -> None:
        self._each(lambda t: t.start(), "could not start")
        if self.trackers:
            self.say("Tracking: " + "; ".join(t.where() for t in self.trackers))

    def experiments(self, results: Sequence[ExperimentResult], task: str, classes: tuple[str, ...]) -> None:
        logs = [experiment_log(r, task, classes, suite=self.suite, run_id=self.run_id) for r in results]
        for log in logs:
            self._each(partial(_log_experiment, log=log), f"could not log experiment {log.name}")

    def finish(self, log: SuiteLog) -> None:
        self._each(lambda t: t.finish(log), "could not log the decision")

    def _each(self, call: Callable[[Tracker], None], what: str) -> None:
        for tracker in list(self.trackers):
            try:
                call(tracker)
            except Exception as err:  # a tracker's failure, whatever its library raises, never stops the run
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                self.say(f"Tracking: {tracker.label} {what} ({type(err).__name__}: {first[:300]}); "
                          f"the run goes on without {tracker.label}.")
                self.trackers.remove(tracker)


def _log_experiment(tracker: Tracker, *, log: ExperimentLog) -> None:
    tracker.experiment(log)


def open_tracking(spec: TrackingSpec, *, suite: str, run_id: str, runs_root: Path,
                  say: Callable[[str], None]) -> Tracking:
    """The trackers ``spec`` asks for, started (a failure to start is a warning, and that tracker is dropped)."""
    check_tracking(spec)
    trackers: list[Tracker] = []
    if spec.mlflow is not None:
        from practica.tracking.mlflow import MlflowTracker

        trackers.append(MlflowTracker(spec.mlflow, suite=suite, run_id=run_id, runs_root=runs_root))
    if spec.tensorboard is not None:
        from practica.tracking.tensorboard import TensorboardTracker

        trackers.append(TensorboardTracker(spec.tensorboard, run_id=run_id, runs_root=runs_root))
    tracking = Tracking(trackers, say, suite=suite, run_id=run_id)
    tracking.start()
    return tracking
