"""Wall time of one small suite through each executor: in-process, worker processes, a local Ray instance.

The tiny digits suite of the tests (``tests/tests_support.py``: an MLP and a CNN for 3 epochs, naive Bayes;
400 samples), run whole (data, training, costs, selection, report, bundle) once per executor, each in a
fresh subprocess with the data cache already warm; the Ray time includes starting the local instance.
Each run's decision is printed too: they must agree.

    PYTHONPATH=src .venv/bin/python bench/executors.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ONE_RUN = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, "tests")
from tests_support import tiny_suite_dict
from practica.config.load import suite_from_dict
from practica.execution import get_executor
from practica.pipeline.suite import run_suite

if __name__ == "__main__":
    kind, workers, root = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    started = time.perf_counter()
    executor = get_executor(kind, workers=None if kind == "local" else workers)
    run = run_suite(suite_from_dict(tiny_suite_dict()), runs_root=root, executor=executor)
    executor.close()
    print(json.dumps({"kind": kind, "seconds": time.perf_counter() - started, "chosen": run.decision.chosen,
                      "val": {r.name: r.evaluation.val.classification.accuracy for r in run.results}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PRACTICA_CACHE_DIR": str(Path(tmp) / "cache"), "RAY_AUTH_MODE": "disabled"}
        script = Path(tmp) / "one_run.py"
        script.write_text(ONE_RUN)
        for kind in ("local", "local", "processes", "ray"):  # the first local run warms the data cache
            out = subprocess.run([sys.executable, str(script), kind, str(args.workers), str(Path(tmp) / kind)],
                                 env=env, capture_output=True, text=True, check=True)
            print(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
