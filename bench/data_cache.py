"""Decoded-data cache: first decode of an image folder vs loading it again from practica's cache.

Side by side, in one invocation, each timing in a fresh subprocess (no warm Python state), on the
CIFAR-10 JPEG copy (``data/cifar10-jpeg``: 50,000 training and 10,000 test images):

  plain     a PIL loop decoding every file into one array, as a notebook would (one process)
  decode    practica's first load (``load_source``, folder source): files listed, decoded in a
            process pool, stored in the cache (an empty ``PRACTICA_CACHE_DIR``)
  cached    the same call again: the cache entry read back (checksums verified), page cache warm
  cold      the same, after the entry's pages were dropped from the page cache (``posix_fadvise``
            DONTNEED), so its bytes come from the disk
  mapped    the same call with ``memmap=True``: the entry memory-mapped, checksums verified

    .venv/bin/python bench/data_cache.py [--root data/cifar10-jpeg] [--rounds 3] [--json out.json]

Times are the ``load_source`` call (or the plain loop) alone; each worker's import time is
printed beside it. The target: a cached reload of decoded CIFAR-10 in ≤ 0.5 s.
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

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5
MODES = ("plain", "decode", "cached", "cold", "mapped")


def _drop_page_cache(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def worker(mode: str, folder: Path) -> dict:
    started = time.perf_counter()
    import numpy as np

    from practica.config.schema import SourceSpec
    from practica.data.sources.load import load_source

    imported = time.perf_counter() - started
    if mode == "cold":
        from practica.data.storage.cache import cache_dir

        _drop_page_cache(cache_dir())
    t = time.perf_counter()
    if mode == "plain":
        from PIL import Image

        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        x = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
        n = len(x)
    else:
        spec = SourceSpec(source="folder", path=folder)
        data = load_source(spec, memmap=mode == "mapped")
        n = len(data)
    seconds = time.perf_counter() - t
    return {"mode": mode, "seconds": seconds, "samples": n, "import_s": imported}


def run(mode: str, folder: Path, cache: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        env = {**os.environ, "PRACTICA_CACHE_DIR": str(cache)}
        subprocess.run([sys.executable, __file__, "--worker", mode, "--folder", str(folder), "--result", str(out)],
                       check=True, env=env, cwd=ROOT)
        return json.loads(out.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=ROOT / "data" / "cifar10-jpeg")
    p.add_argument("--rounds", type=int, default=3, help="repeats of the cached, cold and mapped loads")
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.result.write_text(json.dumps(worker(args.worker, args.folder)))
        return
    if not args.root.is_dir():
        sys.exit(f"{args.root} not found: unpack the CIFAR-10 copy first "
                 "(mkdir -p data && tar xzf ../shared/data/cifar10-jpeg.tar.gz -C data)")

    rows = []
    with tempfile.TemporaryDirectory(prefix="practica-cache-bench-") as cache:
        for part in ("train", "test"):
            folder = args.root / part
            results = {"plain": [run("plain", folder, Path(cache))], "decode": [run("decode", folder, Path(cache))]}
            for mode in ("cached", "cold", "mapped"):
                results[mode] = [run(mode, folder, Path(cache)) for _ in range(args.rounds)]
            for mode, rs in results.items():
                secs = [r["seconds"] for r in rs]
                rows.append({"part": part, "mode": mode, "samples": rs[0]["samples"],
                             "median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs),
                             "import_s": statistics.median(r["import_s"] for r in rs), "runs": len(rs)})

    print(f"\n{'part':6} {'mode':7} {'images':>7} {'median s':>9} {'min–max s':>14} {'import s':>9}")
    for r in rows:
        print(f"{r['part']:6} {r['mode']:7} {r['samples']:>7,} {r['median_s']:>9.3f} "
              f"{r['min_s']:>6.3f}–{r['max_s']:<7.3f} {r['import_s']:>9.2f}")
    by = {(r["part"], r["mode"]): r["median_s"] for r in rows}
    print()
    for part in ("train", "test"):
        print(f"{part}: first decode / plain PIL loop = {by[(part, 'decode')] / by[(part, 'plain')]:.2f}×; "
              f"cached / first decode = {by[(part, 'cached')] / by[(part, 'decode')]:.4f} "
              f"({by[(part, 'decode')] / by[(part, 'cached')]:.0f}× faster); cold / cached = "
              f"{by[(part, 'cold')] / by[(part, 'cached')]:.1f}×; "
              f"mapped / cached = {by[(part, 'mapped')] / by[(part, 'cached')]:.2f}×")
    both = by[("train", "cached")] + by[("test", "cached")]
    print(f"cached reload of both parts: {both:.3f} s "
          f"(target ≤ {TARGET_S} s: {'met' if both <= TARGET_S else 'not met'})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
