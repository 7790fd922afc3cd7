"""Tuning: an Optuna study per experiment with a ``tune:`` block, and its best trial as an experiment of the run.

``tune_suite`` runs the studies (TPE or NSGA-II, pruning from the per-epoch validation metric, SQLite storage
at ``RUN_DIR/tuning/<experiment>.db`` so that a killed study and a killed trial resume), then the suite's
run with ``<experiment>-tuned`` added. ``trial_executor`` picks what trains the trials (in-process, worker
processes, Ray) and how many run at once (``dispatch.py``). See docs/tuning.md.
"""

from practica.tuning.dispatch import trial_executor
from practica.tuning.records import StudySummary, TrialRow
from practica.tuning.run import TuneRun, tune_suite

__all__ = ["StudySummary", "TrialRow", "TuneRun", "trial_executor", "tune_suite"]
