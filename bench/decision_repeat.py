"""Does the selection give the same decision when the same suite runs again?

Runs each suite ``--repeats`` times, each in a fresh runs directory and a fresh process (as a user
would run it again), and prints per run: the chosen model, its reason, and every experiment's
validation metric with its interval and its median latency with its interval. Then one line per
suite: the decisions agree, or they do not (and which).

Training is seeded, so the metrics repeat; what varies between runs is the timing, and before
issue 14 that noise decided (digits: cnn over cnn-augmented by a p95 latency 4.5 ms vs 4.9 ms).

    .venv/bin/python bench/decision_repeat.py examples/digits.yaml examples/penguins.yaml [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def one_run(suite: Path, runs: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "practica", "run", str(suite), "--runs-dir", str(runs)],
                          capture_output=True, text=True)
    if proc.returncode not in (0, 3, 4):
        raise SystemExit(f"{suite}: practica run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    decision_file = next(runs.glob("*/*/decision.json"))
    return json.loads(decision_file.read_text())


def show(decision: dict) -> str:
    lines = [f"  chosen: {decision.get('chosen')}"]
    for r in decision.get("ranking", []):
        lines.append(f"    {r.get('experiment')}: {r.get('status')} — {r.get('reason')}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    verdicts = []
    for suite in args.suites:
        chosen = []
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                decision = one_run(suite, Path(tmp))
            chosen.append(decision.get("chosen"))
            print(f"{suite.name} run {i + 1}:\n{show(decision)}", flush=True)
        same = len(set(chosen)) == 1
        verdicts.append(f"{suite.name}: {'same decision' if same else 'DIFFERENT decisions'} in {args.repeats} runs: "
                        + ", ".join(str(c) for c in chosen))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
