"""A study's bookkeeping without training: interrupted trials queued again once, the budget's count, the
pruners by name and the front's spread."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from practica.config.tune import PrunerSpec
from practica.tuning.pruning import make_pruner
from practica.tuning.study import best_trials, finished, requeue_interrupted

LR = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}


def test_trials_left_running_or_stopped_by_ctrl_c_run_again_once_with_their_values():
    study = optuna.create_study()
    study.tell(study.ask(LR), 0.5)  # trial 0: complete
    killed = study.ask(LR)  # trial 1: a kill left it running
    stopped = study.ask(LR)  # trial 2: Ctrl-C (Optuna records it failed)
    stopped.set_user_attr("interrupted", True)
    study.tell(stopped, state=TrialState.FAIL)
    broken = study.ask(LR)  # trial 3: failed for another reason: not run again
    study.tell(broken, state=TrialState.FAIL)
    assert finished(study) == 2  # complete, and failed other than by an interruption

    assert requeue_interrupted(study) == [1, 2]
    assert requeue_interrupted(study) == []  # queued once
    trials = study.get_trials(deepcopy=False)
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["interrupted"]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert [(t.user_attrs["resume_of"], t.user_attrs["rerun_of"]) for t in waiting] == [(1, 1), (2, 2)]

    rerun = study.ask(LR)  # the first waiting trial: trial 1's values, trial 1's folder
    assert rerun.params == killed.params and rerun.user_attrs["resume_of"] == 1


@pytest.mark.parametrize(("name", "kind"), [
    ("median", "AlignedMedianPruner"), ("halving", "SuccessiveHalvingPruner"),
    ("hyperband", "HyperbandPruner"), ("none", "NopPruner"),
])
def test_every_pruner_name_makes_its_pruner(name, kind):
    pruner = make_pruner(PrunerSpec(name=name), max_epochs=10)
    assert isinstance(pruner, optuna.pruners.BasePruner) and type(pruner).__name__ == kind


def test_the_front_is_spread_along_its_length_best_first_objective_first():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(9):  # every trial on the front: more accurate is slower
        trial = study.ask(LR)
        trial.set_user_attr("config", {"name": f"t{i}"})
        study.tell(trial, (0.5 + i / 20, 1.0 + i))
    picked = best_trials(study, 2, limit=5)
    assert picked[0] == 8 and picked[-1] == 0 and len(picked) == 5
