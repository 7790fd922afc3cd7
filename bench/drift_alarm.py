"""How many requests the drift monitor needs before it alarms, per shift of ``ood_shift.py``.

Each request is one image, answered and logged as ``practica serve --monitor-db`` does it: the
server's own scoring (``payload.scored_inference``: ``Bundle.infer`` then ``OodScorer.score``), its
answers (``payload.predictions`` with the ``ood`` field), recorded through ``Monitor.record_answers``
into a real prediction log (SQLite) and read back with ``read_rows``, then judged by
``drift_report`` against the bundle's ``reference.json`` with the default thresholds.

- Per shift (the shifts of ``ood_shift.py``, imported, and another data set's images): the first
  n of N_STEPS at which any check alerts over a window of the first n shifted requests, and which
  checks alert then. A window under ``Thresholds.min_rows`` (30) never alerts, by design.
- The held-in control: the data set's own test images, never shifted; any alert up to the largest
  n is a false alarm and is reported with its check.
- Mixed traffic: a window of 1000 requests of which 10%, 25% or 50% are shifted, at random places.

Every figure is repeated over ``--seeds`` draws of the images (and of the noise); the table gives
the median first n and its range (">N" when a seed never alarmed).

    PYTHONPATH=src .venv/bin/python bench/drift_alarm.py BUNDLE [--test DIR] [--other CSV] \\
        [--seeds 0 1 2] [--steps 10 20 30 50 75 100 150 200 300 500 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from ood_shift import CIFAR_TEST, FASHION_TEST, held_in, other_data_set, shifts
from prometheus_client import CollectorRegistry

from practica.bundle import load_bundle
from practica.bundle.ood import OodScorer
from practica.monitoring.drift import drift_report
from practica.monitoring.log import read_rows
from practica.monitoring.records import PredictionRow
from practica.monitoring.service import Monitor
from practica.serving.payload import ood_fields, predictions, scored_inference
from practica.serving.settings import ServeSettings

N_STEPS = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
MIX_FRACTIONS = (0.10, 0.25, 0.50)
BATCH = 256  # the server micro-batches the model call; each image is still its own request in the log
OTHER_POOL = 10_000  # rows of the other data set's CSV to draw from


def logged_rows(bundle, scorer: OodScorer, x: np.ndarray, workdir: Path, name: str) -> list[PredictionRow]:
    """``x`` sent as one request per image; the rows the server's prediction log holds afterwards."""
    score = scored_inference(bundle, scorer)
    top_k = ServeSettings().top_k
    monitor = Monitor(workdir / f"{name}.db", model_version=bundle.version, reference=bundle.reference(),
                      registry=CollectorRegistry())
    try:
        for i in range(0, len(x), BATCH):
            part = x[i : i + BATCH]
            answer = score(part)
            answers = predictions(answer.outputs, bundle.classes, top_k, bundle.decide(answer.outputs),
                                  ood_fields(answer))
            for j, one in enumerate(answers):
                monitor.record_answers(part[j : j + 1], [one], request_id=f"{name}-{i + j}",
                                       started=time.perf_counter())
        rows = read_rows(monitor.log, role="primary")
    finally:
        monitor.close()
    if len(rows) != len(x):
        sys.exit(f"the log kept {len(rows)} of {len(x)} rows for {name}: the writer dropped some; run again")
    return rows


def alerts_at(rows: list[PredictionRow], reference: dict, n: int) -> list[str]:
    """The checks that alert over the first ``n`` rows (a window of exactly them)."""
    return [c.id for c in drift_report(rows[:n], reference, window=n).alerts]


def first_alarm(rows: list[PredictionRow], reference: dict, steps: tuple[int, ...]) -> dict:
    """The first n of ``steps`` at which any check alerts, the checks then, and each check's own first n."""
    by_n = {n: alerts_at(rows, reference, n) for n in steps if n <= len(rows)}
    alarmed = [n for n, ids in by_n.items() if ids]
    first = alarmed[0] if alarmed else None
    per_check: dict[str, int] = {}
    for n in alarmed:
        for check in by_n[n]:
            per_check.setdefault(check, n)
    return {"first_n": first, "first_checks": by_n[first] if first else [], "per_check_first_n": per_check,
            "alerts_by_n": {str(n): ids for n, ids in by_n.items() if ids},
            "flag_rate": float(np.mean([bool(r.ood_flag) for r in rows]))}


def one_seed(bundle, scorer: OodScorer, args: argparse.Namespace, seed: int, other_pool: np.ndarray | None,
             workdir: Path) -> dict:
    rng = np.random.default_rng(seed)
    reference = bundle.reference()
    steps = tuple(args.steps)
    n = max(steps)
    x, _ = held_in(args.test, bundle.classes, bundle.input.shape, n, rng)
    if len(x) < n:
        sys.exit(f"{args.test} has {len(x)} images of the bundle's classes, fewer than the largest n ({n})")
    control = logged_rows(bundle, scorer, x, workdir, f"s{seed}-control")
    streams: dict[str, np.ndarray] = {}
    if other_pool is not None:
        streams[f"another data set ({args.other.parent.name})"] = other_pool[
            rng.choice(len(other_pool), n, replace=len(other_pool) < n)]
    for name, (change, _keeps_labels) in shifts(rng).items():
        streams[name] = change(x)

    # the control is asked at every step, not only until its first alert: every false alarm is reported
    out: dict = {"seed": seed, "control": first_alarm(control, reference, steps), "shifts": {}}
    for i, (name, images) in enumerate(streams.items()):
        rows = logged_rows(bundle, scorer, images, workdir, f"s{seed}-shift{i}")
        result = first_alarm(rows, reference, steps)
        mixed = {}
        for fraction in MIX_FRACTIONS:
            # the same requests, a share of them shifted, at random places in the window
            shifted = np.zeros(n, dtype=bool)
            shifted[rng.choice(n, int(round(fraction * n)), replace=False)] = True
            window = [rows[k] if shifted[k] else control[k] for k in range(n)]
            mixed[str(fraction)] = alerts_at(window, reference, n)
        result["mixed"] = mixed
        out["shifts"][name] = result
    return out


# ---------------------------------------------------------------------------------------- the table


def _median_range(values: list[int | None], largest: int) -> str:
    """Median and range of first-alarm n over seeds; a seed that never alarmed counts as beyond ``largest``."""
    never = f">{largest}"
    keyed = [v if v is not None else largest + 1 for v in values]
    med = statistics.median_low(keyed)
    text = never if med > largest else str(med)
    lo, hi = min(keyed), max(keyed)
    if lo != hi:
        text += f" ({never if lo > largest else lo}–{never if hi > largest else hi})"
    return text


def _checks_text(lists: list[list[str]]) -> str:
    counts = Counter(c for ids in lists for c in ids)
    if not counts:
        return "–"
    seeds = len(lists)
    return ", ".join(f"{c}" + ("" if k == seeds else f" ({k}/{seeds})") for c, k in counts.most_common())


def _print_row(name: str, per_seed: list[dict], largest: int) -> None:
    rate = statistics.median(p["flag_rate"] for p in per_seed)
    alarmed = sum(p["first_n"] is not None for p in per_seed)
    print(f"| {name} | {100 * rate:.1f}% | {_median_range([p['first_n'] for p in per_seed], largest)} | "
          f"{alarmed}/{len(per_seed)} | {_checks_text([p['first_checks'] for p in per_seed])} |")


def print_table(results: list[dict], steps: tuple[int, ...], bundle, args: argparse.Namespace,
                seconds: float) -> None:
    largest = max(steps)
    seeds = len(results)
    ood = bundle.card.get("ood", {})
    test = (bundle.card.get("metrics") or {}).get("test") or {}
    acc = test.get("accuracy")
    print(f"bundle {bundle.version} (test accuracy {'?' if acc is None else f'{100 * acc:.1f}%'}); OOD threshold "
          f"{ood.get('threshold', float('nan')):.4g}, validation flag rate {100 * ood.get('val_flag_rate', 0):.1f}%")
    print(f"{seeds} seeds ({', '.join(str(r['seed']) for r in results)}), windows of the first n requests, "
          f"n in {', '.join(map(str, steps))}; default thresholds; {seconds:.0f} s\n")

    print("| traffic (one image per request) | OOD flag rate | first alarm n: median (range) | seeds alarmed "
          "| checks alerting at the first alarm |")
    print("| --- | ---: | ---: | ---: | --- |")
    _print_row("held-in control (never shifted)", [r["control"] for r in results], largest)
    for name in results[0]["shifts"]:
        _print_row(name, [r["shifts"][name] for r in results], largest)

    false = [(r["seed"], n, ids) for r in results for n, ids in r["control"]["alerts_by_n"].items()]
    if false:
        print("\nfalse alarms on the held-in control:")
        for seed, n, ids in false:
            print(f"  seed {seed}, n = {n}: {', '.join(ids)}")
    else:
        print(f"\nno false alarm on the held-in control at any n up to {largest}, in any seed.")

    print(f"\nmixed traffic: a window of {largest} requests, a share of them shifted (seeds alarmed; the checks)\n")
    print("| shift | " + " | ".join(f"{round(100 * f)}% shifted" for f in MIX_FRACTIONS) + " |")
    print("| --- |" + " --- |" * len(MIX_FRACTIONS))
    for name in results[0]["shifts"]:
        cells = []
        for f in MIX_FRACTIONS:
            lists = [r["shifts"][name]["mixed"][str(f)] for r in results]
            alarmed = sum(bool(ids) for ids in lists)
            cells.append(f"{alarmed}/{seeds}" + (f": {_checks_text(lists)}" if alarmed else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--test", type=Path, default=CIFAR_TEST, help="held-in test images, a subfolder per class")
    parser.add_argument("--other", type=Path, default=FASHION_TEST, help="another data set: a pixel CSV")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, nargs="+", default=list(N_STEPS),
                        help="window sizes n (requests since the shift began) at which the monitor is asked")
    parser.add_argument("--json", type=Path, help="write every seed's figures here")
    args = parser.parse_args()
    if min(args.steps) < 1:
        parser.error("--steps must be positive request counts")
    args.steps = sorted(set(args.steps))

    bundle = load_bundle(args.bundle)
    scorer = OodScorer.from_bundle(bundle)
    if scorer is None or bundle.input.kind != "image":
        sys.exit(f"{args.bundle} has no ood.json, or is not an image model; export it again with this practica")
    started = time.perf_counter()
    other_pool = other_data_set(args.other, bundle.input.shape, OTHER_POOL) if args.other.is_file() else None
    with tempfile.TemporaryDirectory(prefix="drift-alarm-") as tmp:
        results = [one_seed(bundle, scorer, args, seed, other_pool, Path(tmp)) for seed in args.seeds]
    print_table(results, tuple(args.steps), bundle, args, time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps({"bundle": bundle.version, "steps": args.steps, "seeds": results}, indent=1))


if __name__ == "__main__":
    main()
