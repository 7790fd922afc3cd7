"""How often a bundle's out-of-distribution flag fires on held-in images and on shifted ones.

The held-in images are a data set's own test images (by default CIFAR-10's test folder, which a
CIFAR-10 bundle never trained on); the shifted ones are those same images changed (inverted,
Gaussian noise, darker, brighter, blurred) and another data set's (Fashion-MNIST's test CSV,
resized and repeated into the model's channels). For each: the share flagged (the false-positive
rate on held-in images, the true-positive rate on shifted ones), the median score (distance over
threshold: above 1 is flagged) and, where the labels still hold, the model's accuracy.

    PYTHONPATH=src .venv/bin/python bench/ood_shift.py BUNDLE \\
        [--test /path/to/cifar10-jpeg/test] [--other /path/to/fashion-mnist-csv/test.csv] [--samples 2000]

The bundle must carry ood.json (exported by a practica with out-of-distribution statistics); the
scoring is the service's own (``Bundle.infer`` then ``OodScorer.score``), ONNX Runtime on the CPU.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from practica.bundle import load_bundle
from practica.bundle.ood import OodScorer
from practica.data.sources.decode import prepare_image

CIFAR_TEST = Path("/work/data/cifar10-jpeg/test")
FASHION_TEST = Path("/work/data/fashion-mnist-csv/test.csv")
BATCH = 256


def held_in(folder: Path, classes: tuple[str, ...], shape: tuple[int, ...], n: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of an ImageFolder-style test folder (a subfolder per class), drawn evenly at random."""
    files = [(p, classes.index(d.name)) for d in sorted(folder.iterdir()) if d.is_dir() and d.name in classes
             for p in sorted(d.iterdir()) if p.is_file()]
    if not files:
        sys.exit(f"no images of the bundle's classes under {folder} (one subfolder per class: {', '.join(classes)})")
    pick = rng.choice(len(files), min(n, len(files)), replace=False)
    x = np.stack([_decode(Image.open(files[i][0]), shape) for i in pick])
    return x, np.array([files[i][1] for i in pick])


def other_data_set(path: Path, shape: tuple[int, ...], n: int) -> np.ndarray:
    """The first ``n`` rows of a pixel CSV (label, then 28×28 grey values), as the model's images."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            pixels = np.asarray(row[1:], dtype=np.float64)
            side = int(round(len(pixels) ** 0.5))
            rows.append(_decode(Image.fromarray(pixels.reshape(side, side).astype(np.uint8), "L"), shape))
            if len(rows) == n:
                break
    return np.stack(rows)


def _decode(img: Image.Image, shape: tuple[int, ...]) -> np.ndarray:
    h, w, c = shape
    return prepare_image(img, (h, w), c).reshape(h, w, c)


def _blur(x: np.ndarray, radius: float) -> np.ndarray:
    out = []
    for im in x:
        pil = Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im)
        out.append(np.asarray(pil.filter(ImageFilter.GaussianBlur(radius))).reshape(im.shape))
    return np.stack(out)


def shifts(rng: np.random.Generator) -> dict[str, tuple[Callable[[np.ndarray], np.ndarray], bool]]:
    """Name → (the change, whether the labels still hold after it)."""
    def clip(a):
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)

    return {
        "inverted (255 − x)": (lambda x: 255 - x, False),
        "gaussian noise σ=25": (lambda x: clip(x + rng.normal(0, 25, x.shape)), True),
        "gaussian noise σ=60": (lambda x: clip(x + rng.normal(0, 60, x.shape)), True),
        "pure noise (uniform)": (lambda x: rng.integers(0, 256, x.shape).astype(np.uint8), False),
        "brightness ×0.4": (lambda x: clip(x * 0.4), True),
        "brightness ×1.8": (lambda x: clip(x * 1.8), True),
        "brightness +80": (lambda x: clip(x.astype(np.float64) + 80), True),
        "blur radius 1.5": (lambda x: _blur(x, 1.5), True),
        "blur radius 3": (lambda x: _blur(x, 3.0), True),
        "all zero": (lambda x: np.zeros_like(x), False),
    }


def measure(bundle, scorer: OodScorer, x: np.ndarray, y: np.ndarray | None) -> dict:
    scores, flags, correct = [], [], 0
    for i in range(0, len(x), BATCH):
        part = x[i : i + BATCH]
        inference = bundle.infer(part)
        result = scorer.score(part, inference.embedding)
        scores.append(result.scores)
        flags.append(result.flags)
        if y is not None:
            correct += int((bundle.decide(inference.outputs) == y[i : i + BATCH]).sum())
    s, f = np.concatenate(scores), np.concatenate(flags)
    return {"n": len(x), "flagged": int(f.sum()), "rate": float(f.mean()), "median": float(np.median(s)),
            "accuracy": None if y is None else correct / len(x)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--test", type=Path, default=CIFAR_TEST, help="held-in test images, a subfolder per class")
    parser.add_argument("--other", type=Path, default=FASHION_TEST, help="another data set: a pixel CSV")
    parser.add_argument("--samples", type=int, default=2000, help="images per row of the table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    bundle = load_bundle(args.bundle)
    scorer = OodScorer.from_bundle(bundle)
    if scorer is None or bundle.input.kind != "image":
        sys.exit(f"{args.bundle} has no ood.json, or is not an image model; export it again with this practica")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    x, y = held_in(args.test, bundle.classes, bundle.input.shape, args.samples, rng)
    rows = [("held-in test images", measure(bundle, scorer, x, y))]
    if args.other.is_file():
        rows.append((f"another data set ({args.other.parent.name})",
                     measure(bundle, scorer, other_data_set(args.other, bundle.input.shape, args.samples), None)))
    for name, (change, keeps_labels) in shifts(rng).items():
        rows.append((name, measure(bundle, scorer, change(x), y if keeps_labels else None)))

    ood = bundle.card.get("ood", {})
    print(f"bundle {bundle.version}: {ood.get('method')}, on {ood.get('features')}; threshold "
          f"{ood.get('threshold', float('nan')):.4g} (validation flag rate {100 * ood.get('val_flag_rate', 0):.1f}%)")
    print(f"{len(x):,} held-in images from {args.test}; {time.perf_counter() - started:.0f} s\n")
    print("| inputs | n | flagged | flag rate | median score | accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        acc = "–" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        print(f"| {name} | {r['n']:,} | {r['flagged']:,} | {100 * r['rate']:.1f}% | {r['median']:.2f} | {acc} |")
    print("\nheld-in: the false-positive rate; every other row: the true-positive rate on that shift.")


if __name__ == "__main__":
    main()
