"""The median pruner compares trials at the same point of their own schedules, so a longer schedule is not
judged by a shorter one's early epochs."""

from __future__ import annotations

import optuna
import pytest

from practica.tuning.pruning import EPOCHS_PLANNED, aligned_median_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def complete(study, planned: int, curve: list[float]) -> None:
    study.add_trial(optuna.trial.create_trial(
        value=curve[-1], intermediate_values=dict(enumerate(curve, start=1)), user_attrs={EPOCHS_PLANNED: planned},
        params={}, distributions={}))


def judged(study, planned: int, curve: list[float]) -> bool:
    trial = study.ask()
    trial.set_user_attr(EPOCHS_PLANNED, planned)
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
    return trial.should_prune()


@pytest.fixture
def study():
    s = optuna.create_study(direction="maximize", pruner=aligned_median_pruner(startup_trials=2, warmup_epochs=0))
    complete(s, 2, [0.55, 0.66])  # short schedules: high early
    complete(s, 2, [0.53, 0.64])
    return s


def test_a_longer_schedule_is_not_judged_by_shorter_ones_early_epochs(study):
    # epoch 1 of 5 is progress 0.2: the two-epoch trials have no value that early, so no verdict
    assert not judged(study, 5, [0.35])
    # epoch 3 of 5 (0.6) against theirs interpolated at 0.6 (0.57, 0.55): above, kept
    assert not judged(study, 5, [0.35, 0.48, 0.60])


def test_a_trial_behind_at_the_same_progress_is_pruned(study):
    assert judged(study, 4, [0.30, 0.40])  # progress 0.5: the others had 0.55 and 0.53


def test_with_epochs_fixed_it_is_the_median_rule(study):
    assert judged(study, 2, [0.40])
    assert not judged(study, 2, [0.60])


def test_warmup_and_startup_hold_back_verdicts():
    s = optuna.create_study(direction="maximize", pruner=aligned_median_pruner(startup_trials=2, warmup_epochs=1))
    complete(s, 2, [0.5, 0.6])
    assert not judged(s, 2, [0.1, 0.1])  # one complete trial: under startup_trials
    complete(s, 2, [0.5, 0.6])
    assert not judged(s, 2, [0.1])  # epoch 1 is in the warm-up
    assert judged(s, 4, [0.1, 0.1])


def test_a_trial_at_its_last_planned_epoch_is_never_pruned(study):
    # Stopping it saves nothing and loses its value: it completes, however far behind.
    assert not judged(study, 2, [0.30, 0.40])
    assert judged(study, 3, [0.30, 0.40])  # the same curve with an epoch still to go is pruned


def test_minimize():
    s = optuna.create_study(direction="minimize", pruner=aligned_median_pruner(startup_trials=1, warmup_epochs=0))
    complete(s, 3, [1.0, 0.8, 0.7])
    assert judged(s, 3, [1.2])
    assert not judged(s, 3, [0.9])
