"""First read of a large pixel CSV: practica's two CSV sources against the plain numpy way.

Side by side, in one invocation, each timing in a fresh subprocess with an empty
``PRACTICA_CACHE_DIR`` (a first read: parse, check, store in the cache), on the Fashion-MNIST
pixel CSV (``fashion-mnist-csv/train.csv``: 60,000 rows × 785 columns, 133 MB):

  plain       ``np.loadtxt`` of the whole file (header skipped), as a notebook would: no checks,
              no bad-row reporting, no cache
  pixel_csv   ``load_source(source: pixel_csv)``: label column found by name, every row checked
              (width, numbers, 0–255, whole), the shape inferred, the result cached
  csv         ``load_source(source: csv, target: label)``: the same file read as a table (each
              column's kind inferred, missing markers, categories), the result cached

    .venv/bin/python bench/csv_load.py --csv /path/to/fashion-mnist-csv/train.csv [--rounds 3]

The target (issue 11): a first read of this file in ≤ 20 s on two cores.
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

TARGET_S = 20.0
MODES = ("plain", "pixel_csv", "csv")


def worker(mode: str, path: Path) -> dict:
    import numpy as np

    from practica.config.schema import SourceSpec
    from practica.data.sources.load import load_source

    t = time.perf_counter()
    if mode == "plain":
        x = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
        n = len(x)
    else:
        spec = SourceSpec(source=mode, path=path, **({"target": "label"} if mode == "csv" else {}))
        n = len(load_source(spec))
    return {"mode": mode, "seconds": time.perf_counter() - t, "rows": n}


def run(mode: str, path: Path) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PRACTICA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, __file__, "--worker", mode, "--csv", str(path)],
                             env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=MODES)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.csv)))
        return
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(args.rounds):  # interleaved, so drift in the machine's load hits every mode alike
        for mode in MODES:
            times[mode].append(run(mode, args.csv)["seconds"])
    size = args.csv.stat().st_size / 1e6
    print(f"{args.csv} ({size:.0f} MB), {args.rounds} round(s), first read each (empty cache), {os.cpu_count()} CPUs")
    print(f"{'mode':<10} {'min s':>7} {'median s':>9} {'max s':>7} {'vs plain':>9}")
    plain = statistics.median(times["plain"])
    for mode in MODES:
        med = statistics.median(times[mode])
        print(f"{mode:<10} {min(times[mode]):7.2f} {med:9.2f} {max(times[mode]):7.2f} {med / plain:8.2f}x")
    for mode in ("pixel_csv", "csv"):
        med = statistics.median(times[mode])
        print(f"target: {mode} first read ≤ {TARGET_S:g} s: {'met' if med <= TARGET_S else 'NOT met'} ({med:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"csv": str(args.csv), "times": times}, indent=2))


if __name__ == "__main__":
    main()
