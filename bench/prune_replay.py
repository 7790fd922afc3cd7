"""What the median pruner would have saved: a study trained without pruning, replayed through practica's pruner.

With a sampler whose proposals do not depend on earlier results (``sampler: random``), a study's trials are the
same with and without pruning, and a trial's per-epoch values do not depend on the other trials; so feeding each
complete trial's per-epoch values, in trial order, to ``aligned_median_pruner`` gives exactly the epochs a pruned
study would train and the trials it would keep. Prints each trial's fate, the epochs with and without pruning,
and the best value each keeps.

    .venv/bin/python bench/prune_replay.py RUN_DIR/tuning/EXPERIMENT.db [--study EXPERIMENT]
        [--startup-trials 2] [--warmup-epochs 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from practica.tuning.pruning import EPOCHS_PLANNED, aligned_median_pruner


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("storage", type=Path, help="the study's SQLite file (RUN_DIR/tuning/EXPERIMENT.db)")
    p.add_argument("--study", help="the study's name (default: the file's stem, the experiment)")
    p.add_argument("--startup-trials", type=int, default=2)
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--epochs-param", default="train.epochs", help="the searched epochs (else all trials alike)")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=args.study or args.storage.stem, storage=f"sqlite:///{args.storage}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    pick = max if maximize else min
    sim = optuna.create_study(direction=study.direction,
                              pruner=aligned_median_pruner(args.startup_trials, args.warmup_epochs))
    epochs_full = epochs_pruned = 0
    kept, fates = [], []
    for t in done:
        trial = sim.ask()
        steps = sorted(t.intermediate_values)
        trial.set_user_attr(EPOCHS_PLANNED, int(t.params.get(args.epochs_param, len(steps))))
        epochs_full += len(steps)
        for step in steps:
            trial.report(t.intermediate_values[step], step)
            epochs_pruned += 1
            if trial.should_prune():
                sim.tell(trial, state=optuna.trial.TrialState.PRUNED)
                fates.append(f"{t.number}: pruned at epoch {step} of {len(steps)}")
                break
        else:
            sim.tell(trial, t.value)
            kept.append(t.value)
            fates.append(f"{t.number}: kept, {t.value:.4f}")
    print("\n".join(fates))
    print(f"{len(done)} complete trials; epochs without pruning {epochs_full}, with {epochs_pruned} "
          f"({epochs_pruned / max(epochs_full, 1):.0%}); best without {pick(t.value for t in done):.4f}, "
          f"with {pick(kept):.4f}")


if __name__ == "__main__":
    main()
