"""Build the two bundles serve_load.py serves, from the real CIFAR-10 JPEG copy, in a few minutes.

The small CNN and ResNet-20 exactly as the CIFAR-10 case study defines them (examples/cifar10.yaml:
the same layers, augmentation and optimiser), trained for ``--epochs`` (1) on a stratified subset of
``--samples`` (5,000) training images, then exported with ``practica export``. Their accuracy is poor
(~30%), and that does not matter here: serving speed depends on the network (its ONNX graph, the same
whatever the weights) and on the request bodies, not on how well the weights were trained. For the
case study's own models, export them from a full run instead (bench/README.md).

    .venv/bin/python bench/serve_bundles.py [--out /tmp/bundles] [--data data/cifar10-jpeg]
        [--samples 5000] [--epochs 1]      # ~3 min on 2 cores: the run ~2 min, the two exports ~1 min
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CASE_STUDY = ROOT / "examples" / "cifar10.yaml"
MODELS = ("small-cnn", "resnet20")


def practica_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "practica"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "practica.cli"]


def checkout_env() -> dict[str, str]:
    """The environment for practica's subprocesses: this checkout's src/ first, so that the servers, the
    bundles and the parts timed in the bench process all run the same code (an editable install of
    another checkout would otherwise win)."""
    paths = [str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def quick_suite(data: Path, samples: int, epochs: int) -> dict:
    """The case study's two experiments, on a subset, for ``epochs``."""
    study = yaml.safe_load(CASE_STUDY.read_text())
    experiments = [dict(e) for e in study["experiments"] if e["name"] in MODELS]
    for e in experiments:
        e["train"] = {**e.get("train", {}), "epochs": epochs, "early_stopping": False}
    return {
        "schema_version": 1,
        "name": "serve-load-bundles",
        "description": "The small CNN and ResNet-20 of the CIFAR-10 case study, briefly trained, to be served",
        "dataset": {"source": "folder", "path": str((data / "train").resolve()), "split": {"val": 0.1, "seed": 0},
                    "max_samples": samples},
        "defaults": study["defaults"],
        "experiments": experiments,
    }


def build(out: Path, data: Path, samples: int, epochs: int) -> dict[str, Path]:
    """Train and export the bundles to ``out``/NAME (replacing any there); returns them by name."""
    if not (data / "train").is_dir():
        sys.exit(f"no CIFAR-10 training images under {data / 'train'}; pass --data DIR (with train/<class>/*.jpg)")
    with tempfile.TemporaryDirectory(prefix="serve-bundles-") as tmp:
        suite = Path(tmp) / "suite.yaml"
        suite.write_text(yaml.safe_dump(quick_suite(data, samples, epochs), sort_keys=False))
        runs = Path(tmp) / "runs"
        subprocess.run([*practica_cmd(), "run", str(suite), "--runs-dir", str(runs), "--quiet"], cwd=ROOT, check=True,
                       env=checkout_env())
        run_dir = max((runs / "serve-load-bundles").iterdir())
        bundles = {}
        for name in MODELS:
            bundles[name] = out / name
            subprocess.run([*practica_cmd(), "export", str(run_dir), "--experiment", name, "--out", str(out / name),
                            "--overwrite"], cwd=ROOT, check=True, env=checkout_env())
    return bundles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bundles"), help="bundles go to OUT/small-cnn, OUT/resnet20")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "cifar10-jpeg",
                    help="the CIFAR-10 JPEG copy, with train/<class>/*.jpg (default: %(default)s)")
    ap.add_argument("--samples", type=int, default=5000, help="training images, a stratified subset (default: 5000)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs of each model (default: 1)")
    args = ap.parse_args()
    for name, path in build(args.out, args.data, args.samples, args.epochs).items():
        print(f"{name}={path}")


if __name__ == "__main__":
    main()
