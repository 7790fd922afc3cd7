"""Near-duplicate detection on real data: precision, recall and time, the current rule against the previous one.

The current rule (``practica.data.duplicates.hygiene``): pHash candidates within Hamming 6 (windows moved by a
pixel), an 8×8 block pre-filter, then the mean absolute pixel difference after the best ≤1-pixel
shift and a brightness/contrast fit, at most ``max_difference`` (default 8 of 255), and the thumbnail
correlation ≥ 0.8. The previous rule (``bench/hygiene_before.py``, the module as it was): pHash
candidates (thumbnail moved by a pixel) confirmed by the thumbnail correlation ≥ 0.8 alone.

For CIFAR-10 (``--cifar``: train/ and test/ of class folders of JPEGs) and Fashion-MNIST
(``--fmnist``: train.csv and test.csv, Kaggle pixel CSV), each decoded once into ``--workdir``:

  recall     ``--recall-n`` test images (seeded), each edited: JPEG quality 90 and 75, moved by one
             pixel (a random one of the eight directions, edge repeated), brightness ×0.85 and ×1.2
             (clipped), and all at once (quality 75, moved, ×1.15); the fraction of edits found as a
             near duplicate of their original (``near_duplicates(originals, edits)``)
  precision  every pair flagged between train and test (what ``check_data``'s leakage check and
             ``clean``'s ``leaks: drop`` act on), each judged by an independent strict check
             (``strict_copy``); precision = judged copies / flagged. The previous rule on the first
             ``--old-train`` training images only (it takes minutes on the whole of Fashion-MNIST)
  grid       ``--grid-dir``: PNGs of flagged pairs side by side (random ones, and the least similar
             ones that passed), to look at
  timing     ``check_data({"train", "test"})`` on the whole set (the hygiene checks, data already
             in memory), current and previous rule (the previous one on the whole of CIFAR-10, on
             ``--old-train`` training images of Fashion-MNIST, and with ``--old-full`` on the whole
             of it too: about 9 minutes), the ratio printed

The strict check (``strict_copy``) is deliberately unlike the rule: native resolution, every colour
channel, the best of the nine ≤1-pixel shifts, a per-channel least-squares brightness fit on pixels
saturated in neither image, and the 90th percentile (not the mean) of the absolute differences,
at most 20 of 255. Measured on the synthetic edits below (500 test images of each set), it accepts
2,999 of 3,000 copies of each kind (99th percentiles: JPEG q75 15 on Fashion-MNIST, all edits at
once 16; the one miss, a CIFAR-10 image brightened ×1.2 into saturation, 21), while random pairs of
different images start at 33 (CIFAR-10) and 58 (Fashion-MNIST).

    .venv/bin/python bench/near_duplicates.py [--cifar /work/data/cifar10-jpeg]
        [--fmnist /work/data/fashion-mnist-csv] [--recall-n 1000] [--old-train 10000] [--old-full]
        [--workdir /tmp/practica-near] [--grid-dir bench/near_grids] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hygiene_before as before  # noqa: E402

from practica.data.duplicates import checks, hygiene  # noqa: E402
from practica.data.records import Dataset  # noqa: E402

STRICT_P90 = 20.0  # of 255: the strict check's bound on the 90th percentile of |difference|


# ------------------------------------------------------------------------------ data


def load_cifar(root: Path, work: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for part in ("train", "test"):
        cached = work / f"cifar10_{part}.npz"
        if not cached.exists():
            classes = sorted(d.name for d in (root / part).iterdir() if d.is_dir())
            xs, ys = [], []
            for k, c in enumerate(classes):
                for f in sorted((root / part / c).iterdir()):
                    xs.append(np.asarray(Image.open(f).convert("RGB")))
                    ys.append(k)
            np.savez(cached, x=np.stack(xs), y=np.asarray(ys))
        d = np.load(cached)
        out[part] = (d["x"], d["y"])
    return out


def load_fmnist(root: Path, work: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for part in ("train", "test"):
        cached = work / f"fmnist_{part}.npz"
        if not cached.exists():
            a = np.loadtxt(root / f"{part}.csv", delimiter=",", skiprows=1, dtype=np.uint8)
            np.savez(cached, x=a[:, 1:].reshape(-1, 28, 28), y=a[:, 0])
        d = np.load(cached)
        out[part] = (d["x"], d["y"])
    return out


# ------------------------------------------------------------------------------ edits


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue()))).reshape(img.shape)


def moved(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[np.clip(np.arange(h) - dy, 0, h - 1)][:, np.clip(np.arange(w) - dx, 0, w - 1)]


def bright(img: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.rint(img.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def edits(x: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dirs = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    d = [dirs[k] for k in rng.integers(0, 8, len(x))]
    return {
        "JPEG q90": np.stack([jpeg(a, 90) for a in x]),
        "JPEG q75": np.stack([jpeg(a, 75) for a in x]),
        "moved 1 px": np.stack([moved(a, *s) for a, s in zip(x, d, strict=True)]),
        "brightness ×0.85": np.stack([bright(a, 0.85) for a in x]),
        "brightness ×1.2": np.stack([bright(a, 1.2) for a in x]),
        "q75 + 1 px + ×1.15": np.stack([bright(jpeg(moved(a, *s), 75), 1.15) for a, s in zip(x, d, strict=True)]),
    }


# ------------------------------------------------------------------------------ strict check


def strict_copy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair: the 90th percentile of |b - fit(a)| (0–255) at the best of nine ≤1-pixel shifts,
    native resolution, every channel, fitted per channel on pixels saturated in neither image."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    k, h, w, c = a.shape
    best = np.full(k, np.inf, dtype=np.float32)
    inner_b = b[:, 1 : h - 1, 1 : w - 1]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            inner_a = a[:, 1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]
            res = np.empty_like(inner_b)
            for ch in range(c):
                pa, pb = inner_a[..., ch].reshape(k, -1), inner_b[..., ch].reshape(k, -1)
                m = ((pa > 0) & (pa < 255) & (pb > 0) & (pb < 255)).astype(np.float32)
                n = np.maximum(m.sum(1, keepdims=True), 1)
                ma, mb = (m * pa).sum(1, keepdims=True) / n, (m * pb).sum(1, keepdims=True) / n
                var = (m * (pa - ma) ** 2).sum(1, keepdims=True)
                cov = (m * (pa - ma) * (pb - mb)).sum(1, keepdims=True)
                alpha = np.clip(np.where(var > 1e-6, cov / np.maximum(var, 1e-6), 1.0), 0.5, 2.0)
                few = m.sum(1, keepdims=True) < 0.05 * pa.shape[1]
                alpha = np.where(few, 1.0, alpha)
                beta = np.where(few, 0.0, mb - alpha * ma)
                fitted = np.clip(alpha * pa + beta, 0, 255)
                res[..., ch] = np.abs(pb - fitted).reshape(res.shape[:3])
            np.minimum(best, np.percentile(res.reshape(k, -1), 90, axis=1), out=best)
    return best


def batched(fn, a: np.ndarray, b: np.ndarray, step: int = 2048) -> np.ndarray:
    if not len(a):
        return np.empty(0)
    return np.concatenate([fn(a[s : s + step], b[s : s + step]) for s in range(0, len(a), step)])


# ------------------------------------------------------------------------------ measures


def recall(name: str, x: np.ndarray, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    orig = x[np.sort(rng.choice(len(x), n, replace=False))]
    rows = []
    for edit, copies in edits(orig, seed).items():
        found = {}
        for rule, fn in (("current", hygiene.near_duplicates), ("previous", before.near_duplicates)):
            pairs = fn(orig, copies)[0]
            found[rule] = float(np.mean([k in set(map(tuple, pairs.tolist()))
                                         for k in zip(range(n), range(n), strict=True)]))
        strict = float(np.mean(batched(strict_copy, orig, copies) <= STRICT_P90))
        rows.append({"set": name, "edit": edit, "n": n, "current": found["current"], "previous": found["previous"],
                     "strict check accepts": strict})
        print(f"  recall {name:14s} {edit:20s} current {found['current']:.3f}  previous {found['previous']:.3f}  "
              f"(strict check accepts {strict:.3f})", flush=True)
    return rows


def precision(name: str, data, old_train: int, grid_dir: Path | None) -> list[dict]:
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    rows = []
    for rule, fn, ntr in (("current", hygiene.near_duplicates, len(xtr)),
                          ("current", hygiene.near_duplicates, old_train),
                          ("previous", before.near_duplicates, old_train)):
        ntr = min(ntr, len(xtr))
        start = time.perf_counter()
        pairs = fn(xtr[:ntr], xte)[0]
        seconds = time.perf_counter() - start
        a, b = xtr[:ntr][pairs[:, 0]], xte[pairs[:, 1]]
        exact = np.array([np.array_equal(p, q) for p, q in zip(a, b, strict=True)], dtype=bool)
        strict = batched(strict_copy, a, b)
        ok = strict <= STRICT_P90
        differ = ytr[pairs[:, 0]] != yte[pairs[:, 1]]
        row = {"set": name, "rule": rule, "train": ntr, "test": len(xte), "flagged": len(pairs),
               "exact": int(exact.sum()), "confirmed": int(ok.sum()),
               "precision": float(ok.mean()) if len(ok) else float("nan"),
               "test flagged": int(len(np.unique(pairs[:, 1]))), "labels differ": int(differ.sum()),
               "seconds": round(seconds, 1)}
        rows.append(row)
        print(f"  precision {name:14s} {rule:8s} train[:{ntr}]×test: flagged {len(pairs):,} "
              f"({row['test flagged']:,} test images), confirmed {ok.sum():,} → precision {row['precision']:.3f}; "
              f"labels differ {differ.sum():,}; "
              f"{seconds:.1f} s", flush=True)
        if grid_dir is not None and ntr == len(xtr) or (grid_dir is not None and rule == "previous"):
            save_grid(grid_dir / f"{name}_{rule}_{ntr}.png", a, b, strict, seed=0)
    return rows


def save_grid(path: Path, a: np.ndarray, b: np.ndarray, strict: np.ndarray, seed: int, shown: int = 24) -> None:
    """Pairs side by side, 4 pairs a row: the top half random, the bottom half the least similar (by the
    strict check)."""
    if len(a) == 0:
        return
    rng = np.random.default_rng(seed)
    pick = list(rng.choice(len(a), min(shown // 2, len(a)), replace=False)) + list(np.argsort(-strict)[: shown // 2])
    tiles = []
    for k in pick:
        pa, pb = a[k], b[k]
        if pa.ndim == 2:
            pa, pb = np.repeat(pa[..., None], 3, 2), np.repeat(pb[..., None], 3, 2)
        gap = np.full((pa.shape[0], 2, 3), 255, np.uint8)
        tiles.append(np.concatenate([pa, gap, pb, np.full((pa.shape[0], 8, 3), 128, np.uint8)], axis=1))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + 4], axis=1) for i in range(0, len(tiles), 4)]
    sheet = np.concatenate([np.concatenate([r, np.full((4, r.shape[1], 3), 128, np.uint8)]) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).resize((sheet.shape[1] * 3, sheet.shape[0] * 3), Image.Resampling.NEAREST).save(path)


def timing(name: str, data, old_train: int, old_full: bool) -> list[dict]:
    rows = []

    def parts(ntr: int | None) -> dict[str, Dataset]:
        out = {}
        for part, (x, y) in data.items():
            x, y = (x[:ntr], y[:ntr]) if part == "train" and ntr else (x, y)
            x = x if x.ndim == 4 else x[..., None]
            out[part] = Dataset(name=part, x=x, y=y.astype(np.int64), classes=tuple(str(k) for k in range(10)))
        return out

    def run(rule: str, ntr: int | None) -> float:
        patched = {}
        if rule == "previous":  # the checks as they were: the previous module's hashes and pairs
            patched = {"perceptual_hashes": before.perceptual_hashes,
                       "near_duplicates": lambda *a, max_difference=None, **k: before.near_duplicates(*a, **k)}
        saved = {k: getattr(checks, k) for k in patched}
        for k, v in patched.items():
            setattr(checks, k, v)
        try:
            p = parts(ntr)
            start = time.perf_counter()
            report = checks.check_data(p)
            seconds = time.perf_counter() - start
        finally:
            for k, v in saved.items():
                setattr(checks, k, v)
        n = sum(len(d) for d in p.values())
        across = report.check("near_across")
        rows.append({"set": name, "rule": rule, "images": n, "seconds": round(seconds, 1),
                     "near_across": across.count if across else None, "summary": across.summary if across else ""})
        print(f"  timing {name:14s} {rule:8s} {n:,} images: check_data {seconds:.1f} s  ({across.summary})", flush=True)
        return seconds

    sizes = [old_train] + ([None] if old_full or name == "CIFAR-10" else [])
    for ntr in sizes:
        new, old = run("current", ntr), run("previous", ntr)
        print(f"  timing {name:14s} previous / current = {old / new:.1f}×", flush=True)
    if None not in sizes:
        run("current", None)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar", type=Path, default=Path("/work/data/cifar10-jpeg"))
    ap.add_argument("--fmnist", type=Path, default=Path("/work/data/fashion-mnist-csv"))
    ap.add_argument("--recall-n", type=int, default=1000)
    ap.add_argument("--old-train", type=int, default=10000)
    ap.add_argument("--old-full", action="store_true", help="also time the previous rule on the whole sets (minutes)")
    ap.add_argument("--only", choices=["recall", "precision", "timing"], nargs="*",
                    default=["recall", "precision", "timing"])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/practica-near"))
    ap.add_argument("--grid-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list] = {"recall": [], "precision": [], "timing": []}
    for name, loader, root in (("CIFAR-10", load_cifar, args.cifar), ("Fashion-MNIST", load_fmnist, args.fmnist)):
        start = time.perf_counter()
        data = loader(root, args.workdir)
        print(f"{name}: loaded in {time.perf_counter() - start:.1f} s "
              f"(train {data['train'][0].shape}, test {data['test'][0].shape})", flush=True)
        if "recall" in args.only:
            out["recall"] += recall(name, data["test"][0], args.recall_n)
        if "precision" in args.only:
            out["precision"] += precision(name, data, args.old_train, args.grid_dir)
        if "timing" in args.only:
            out["timing"] += timing(name, data, args.old_train, args.old_full)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
