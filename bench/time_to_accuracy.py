"""Time to accuracy: minutes for an experiment of a suite to train and be evaluated on the test set.

Runs the experiment exactly as ``practica run`` would train it (its model, training config and
augmentation from the suite; the suite's data stage, cleaned and split), once per seed, each in a
fresh subprocess, and prints for every seed the test accuracy (the evaluation stage's fp32
predictor on the whole test split) and the wall time of training plus that evaluation; then the
mean and spread over the seeds and how many reached the target. The curve (per-epoch validation
accuracy against elapsed training time) goes into ``--json``. The test split is scored as ``practica
run`` scores it: under bf16 when the run trained in bf16, near ties in fp32 (``Bf16Check``), so the
predicted classes, hence the accuracy, are fp32's.

In the same bench run, the external contender ``../shared/anchors/airbench94_cpu.py`` (airbench94's own
code on the CPU) trains and is evaluated on the same JPEG copy, once per ``--anchor-seeds``, and the
figures are set side by side: practica's time to the anchor's accuracy as a share of the anchor's time
(the mean over seeds, each run's own clock: training plus the test evaluation; practica's training clock
also holds its per-epoch validation and the precision probe, the anchor's leaves its per-epoch test
evaluation out, as the original does).

    .venv/bin/python bench/time_to_accuracy.py [--suite examples/cifar10.yaml] [--experiment fast]
        [--seeds 0 1 2 3 4] [--target 0.90] [--minutes 6] [--threads 2] [--json out.json]
        [--anchor ../shared/anchors/airbench94_cpu.py --anchor-seeds 0 --anchor-data data/cifar10-jpeg]

With ``--test-curve`` each epoch's weights are also scored on the test set, the clock paused
meanwhile (it costs an evaluation per epoch, not counted in the times).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, describe_precision, machine_info  # bench/machine.py

ROOT = Path(__file__).resolve().parent.parent


def worker(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from practica.config.load import load_suite
    from practica.data import prepare_data
    from practica.evaluation.predictors import Bf16Check, TorchPredictor
    from practica.models.registry import build_network
    from practica.pipeline.experiment import scoring_predictor
    from practica.training import trainer
    from practica.training.callbacks import Callback

    suite = load_suite(args.suite)
    exp = suite.experiment(args.experiment)
    spec = exp.train.model_copy(update={"seed": args.seed})
    started = time.perf_counter()
    splits = prepare_data(suite.dataset)
    data_s = time.perf_counter() - started
    shape, classes = splits.train.input_shape, len(splits.classes)
    curve: list[dict] = []
    paused = 0.0
    clock = time.perf_counter()

    # Each epoch's record, and with --test-curve its weights scored on the test set (the clock paused):
    # a training callback sees the model as the epoch ends.
    class Curve(Callback):
        def on_epoch_end(self, loop, record) -> None:
            nonlocal paused
            point = {"epoch": record.epoch, "seconds": time.perf_counter() - clock - paused,
                     "train_loss": record.train_loss, "val_accuracy": record.value("val_accuracy")}
            if args.test_curve:
                t = time.perf_counter()
                proba = TorchPredictor(loop.model).predict_proba(splits.test.x)
                point["test_accuracy"] = float((proba.argmax(1) == splits.test.y).mean())
                loop.model.train()
                paused += time.perf_counter() - t
            curve.append(point)
            print(json.dumps(point), file=sys.stderr, flush=True)

    class Settings:  # the display fit tells what it computes in (precision: auto's decision, with its timings)
        def settings(self, line: str) -> None:
            print(f"  {line}", file=sys.stderr, flush=True)

        def epoch_start(self, epoch, epochs, steps): ...
        def step(self, done): ...
        def epoch_end(self, record): ...

    augment = suite.augment_for(exp)
    result = trainer.fit(lambda: build_network(exp.model, shape, classes), splits.train, splits.val, spec,
                         augment, events=Settings(), callbacks=[Curve()])
    train_s = time.perf_counter() - clock - paused
    t = time.perf_counter()
    scorer = scoring_predictor(TorchPredictor(result.model), result.history)  # as `practica run` scores
    proba = scorer.predict_proba(splits.test.x)
    test_accuracy = float((proba.argmax(1) == splits.test.y).mean())
    eval_s = time.perf_counter() - t
    checks = getattr(scorer, "checks", [])
    return {
        "seed": args.seed, "test_accuracy": test_accuracy, "train_s": train_s, "eval_s": eval_s,
        "total_s": train_s + eval_s, "data_s": data_s, "epochs": len(curve), "curve": curve,
        "train_samples": len(splits.train), "test_samples": len(splits.test), "precision": spec.precision,
        "precision_used": describe_precision(result.history),
        "bf16": result.history.precision is not None and result.history.precision.used == "bf16",
        "best_val_accuracy": max((p["val_accuracy"] for p in curve), default=float(np.nan)),
        "scoring": Bf16Check.merge(checks).describe() if checks else "fp32",
    }


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", "--seed", str(seed), "--result", str(out),
               "--suite", str(args.suite), "--experiment", args.experiment, "--threads", str(args.threads)]
        if args.test_curve:
            cmd.append("--test-curve")
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        return json.loads(out.read_text())


def run_anchor(args: argparse.Namespace, seed: int) -> dict:
    """airbench94_cpu for one seed, in a subprocess, its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "anchor.json"
        cmd = [sys.executable, str(args.anchor), "--data", str(args.anchor_data), "--cache", str(args.anchor_cache),
               "--seed", str(seed), "--threads", str(args.threads), "--json", str(out), *args.anchor_args.split()]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def reaching(runs: list[dict], accuracy: float) -> str:
    """How many of practica's runs reach ``accuracy`` on the test set."""
    hit = [r for r in runs if r["test_accuracy"] >= accuracy]
    return f"{len(hit)} of {len(runs)} seeds reach {accuracy:.2%}"


def spread(v: list[float]) -> float:
    return statistics.stdev(v) if len(v) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", type=Path, default=ROOT / "examples" / "cifar10.yaml")
    p.add_argument("--experiment", default="fast")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--target", type=float, default=0.90)
    p.add_argument("--floor", type=float, default=0.897, help="every seed's accuracy should reach this")
    p.add_argument("--minutes", type=float, default=6.0, help="the time the target should be reached in")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test-curve", action="store_true")
    p.add_argument("--anchor", type=Path, default=ROOT.parent / "shared" / "anchors" / "airbench94_cpu.py",
                   help="the external contender's script; --anchor-seeds with no seed leaves it out")
    p.add_argument("--anchor-seeds", type=int, nargs="*", default=[0])
    p.add_argument("--anchor-data", type=Path, default=ROOT / "data" / "cifar10-jpeg")
    p.add_argument("--anchor-cache", type=Path, default=ROOT / "bench" / ".cache" / "airbench")
    p.add_argument("--anchor-args", default="", help="more arguments for the anchor, e.g. '--limit 2000' (smoke runs)")
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.result.write_text(json.dumps(worker(args)))
        return
    if args.anchor_seeds and not args.anchor.is_file():
        p.error(f"the anchor {args.anchor} does not exist: give --anchor PATH, or --anchor-seeds with no seed")
    if args.anchor_seeds and not (args.anchor_data / "train").is_dir():
        p.error(f"the anchor's data {args.anchor_data}/train does not exist: unpack the CIFAR-10 JPEG copy "
                "(mkdir -p data && tar xzf ../shared/data/cifar10-jpeg.tar.gz -C data) or give --anchor-data")

    machine = machine_info()
    print(f"{args.experiment} of {args.suite.name}: seeds {args.seeds}, {args.threads} threads, "
          f"{describe_machine(machine)}", flush=True)
    # The anchor first, then practica's seeds: one bench run, one machine, the same hour.
    anchors = []
    for seed in args.anchor_seeds:
        a = run_anchor(args, seed)
        anchors.append(a)
        print(f"anchor {args.anchor.name} seed {seed}: test {a['tta_test_acc']:.2%} in "
              f"{a['total_seconds'] / 60:.2f} min (train {a['train_seconds']:.0f} s over {a['epochs']} epochs, "
              f"test evaluation {a['eval_seconds']:.1f} s; {a['precision']}, batch {a['batch_size']}, "
              f"widths {a['widths']})", flush=True)
    runs = []
    for seed in args.seeds:
        r = run_seed(args, seed)
        runs.append(r)
        print(f"seed {seed}: test {r['test_accuracy']:.2%} in {r['total_s'] / 60:.2f} min "
              f"(train {r['train_s']:.0f} s over {r['epochs']} epochs, test evaluation {r['eval_s']:.1f} s; "
              f"data stage {r['data_s']:.1f} s, not counted); precision {r['precision_used']}; "
              f"test {r['scoring']}", flush=True)
    acc = [r["test_accuracy"] for r in runs]
    minutes = [r["total_s"] / 60 for r in runs]
    reached = sum(a >= args.target for a in acc)
    print(f"\npractica {args.experiment}: test accuracy {statistics.mean(acc):.2%} ± {spread(acc):.2%} "
          f"(min {min(acc):.2%}, max {max(acc):.2%}); minutes {statistics.mean(minutes):.2f} ± {spread(minutes):.2f} "
          f"(max {max(minutes):.2f})")
    met = statistics.mean(acc) >= args.target and min(acc) >= args.floor and statistics.mean(minutes) <= args.minutes
    print(f"target: mean ≥ {args.target:.1%} with every seed ≥ {args.floor:.1%}, in ≤ {args.minutes:g} min: "
          f"{'met' if met else 'MISSED'} ({reached} of {len(runs)} seeds ≥ {args.target:.1%}; "
          f"mean time / budget = {statistics.mean(minutes) / args.minutes:.2f})")
    if anchors:
        a_acc = statistics.mean(a["tta_test_acc"] for a in anchors)
        a_min = statistics.mean(a["total_seconds"] for a in anchors) / 60
        ratio = statistics.mean(minutes) / a_min
        print(f"anchor: test accuracy {a_acc:.2%} in {a_min:.2f} min (mean of {len(anchors)} seed(s))")
        print(f"practica / anchor: accuracy {statistics.mean(acc) - a_acc:+.2%} points, time {ratio:.2f}× "
              f"({reaching(runs, a_acc)}); target: the anchor's accuracy in ≤ 0.67× its time: "
              f"{'met' if statistics.mean(acc) >= a_acc and ratio <= 2 / 3 else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({"experiment": args.experiment, "suite": str(args.suite), "runs": runs,
                                         "anchor": anchors, "target": args.target, "floor": args.floor,
                                         "minutes": args.minutes, "machine": machine}, indent=1))


if __name__ == "__main__":
    main()
