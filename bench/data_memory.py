"""Memory while training on sets bigger than memory: memory-mapped (``dataset.memmap: true``) vs in memory.

Builds synthetic image sets on disk (``--sizes``, default 100,000 and 1,000,000 images of 32×32×3:
0.3 GB and 3.1 GB as uint8 ``.npy``; written a chunk at a time), then for each size and mode runs,
in a fresh subprocess, what practica does with them:

  prepare  ``practica.data.prepare_data`` on the ``npy`` source: load (memory-mapped where the file
           lies, or read), clean (exact duplicates: ``near_distance: null``, since the near-duplicate
           search is quadratic in the set), split 90/5/5, stratified, seeded
  train    ``practica.training.trainer.fit`` of a small CNN (practica layers: conv16, relu, maxpool,
           conv32, relu, global_avgpool, dense head; 5.4 k parameters) for ``--steps`` steps of batch
           ``--batch`` (the first steps of an epoch over the whole training split, then stopped), so the
           steps' time does not grow with the set; before them, fit's input statistics (per-channel
           mean and std) pass over the whole training split, which does
  eval     class probabilities for the whole validation split (``TorchPredictor``, batches of 1024)

Measured in the subprocess: the peak resident memory (``VmHWM``), and, sampled every 10 ms from
``/proc/self/status`` during the whole run, the peak ``RssAnon`` (the process's own memory), overall
and while training, and ``RssFile`` (file pages mapped in: a memory-mapped set's pages count in the
resident size, but are page cache the kernel reclaims under pressure), with the wall time of each
phase. In-memory runs are skipped where they would not fit (estimated 3.5× the set's size above 60%
of ``MemAvailable``).

Prints a table size × mode → peak RSS, peak RssAnon (overall, and while training), peak RssFile,
seconds, and the ratios (largest / smallest size for each mode; memory-mapped / in memory at each size).
The synthetic files and the caches go under ``--workdir`` (default: a new folder in /tmp), removed at
the end unless ``--keep``.

    .venv/bin/python bench/data_memory.py [--sizes 100000 1000000] [--steps 200] [--batch 256]
        [--modes memmap memory] [--workdir DIR] [--keep] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAPE = (32, 32, 3)
CLASSES = 10
GEN_CHUNK = 20_000  # images generated and written at a time
IN_MEMORY_FACTOR = 3.5  # the in-memory path's peak, in multiples of the set (set, splits, resident tensor)
FIT_SHARE = 0.6  # of MemAvailable, that an in-memory run may be expected to take


# ---------------------------------------------------------------------------- data on disk


def make_set(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """``n`` random-but-structured images: each class a smooth colour pattern, every image its class's
    pattern moved by a random offset, scaled in contrast, plus noise (no two alike)."""
    folder.mkdir(parents=True, exist_ok=True)
    x_path, y_path = folder / "x.npy", folder / "y.npy"
    if x_path.exists() and y_path.exists():
        return x_path, y_path
    rng = np.random.default_rng(seed)
    h, w, c = SHAPE
    yy, xx = np.mgrid[0 : 2 * h, 0 : 2 * w].astype(np.float32)
    templates = np.stack([
        np.stack([np.sin(xx * (0.1 + 0.03 * k) + ch) * np.cos(yy * (0.07 + 0.02 * ((k + ch) % 5)))
                  for ch in range(c)], -1)
        for k in range(CLASSES)
    ])  # CLASSES × 2h × 2w × c, in [-1, 1]
    x = np.lib.format.open_memmap(folder / "x.tmp.npy", mode="w+", dtype=np.uint8, shape=(n, *SHAPE))
    y = rng.integers(0, CLASSES, n).astype(np.int64)
    for start in range(0, n, GEN_CHUNK):
        k = min(GEN_CHUNK, n - start)
        dy, dx = rng.integers(0, h, k), rng.integers(0, w, k)
        rows = (dy[:, None] + np.arange(h)[None, :])[:, :, None]
        cols = (dx[:, None] + np.arange(w)[None, :])[:, None, :]
        patch = templates[y[start : start + k, None, None], rows, cols]  # k × h × w × c
        contrast = rng.uniform(40, 100, (k, 1, 1, 1)).astype(np.float32)
        noise = rng.normal(0, 20, (k, *SHAPE)).astype(np.float32)
        x[start : start + k] = np.clip(128 + contrast * patch + noise, 0, 255).astype(np.uint8)
    x.flush()
    del x
    os.replace(folder / "x.tmp.npy", x_path)
    np.save(y_path, y)
    return x_path, y_path


# --------------------------------------------------------------------------------- the child


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0]) * 1024
    return out


class Sampler:
    """Peak RssAnon and RssFile, sampled every ``interval`` seconds in a thread, overall and per phase."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak_anon, self.peak_file = interval, 0, 0
        self.phases: dict[str, int] = {}  # peak RssAnon while each phase ran
        self._phase: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def phase(self, name: str | None) -> None:
        """Start measuring the phase ``name`` (None: no phase)."""
        self.sample()
        self._phase = name
        if name is not None:
            self.phases[name] = 0
        self.sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> None:
        s = _status()
        self.peak_anon = max(self.peak_anon, s["RssAnon"])
        self.peak_file = max(self.peak_file, s["RssFile"])
        phase = self._phase
        if phase is not None:
            self.phases[phase] = max(self.phases[phase], s["RssAnon"])

    def __enter__(self) -> Sampler:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class _Enough(Exception):
    pass


class _StopAfter:
    """Training events that end ``fit`` after ``steps`` steps (an exception, caught by the child)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.started = self.ended = 0.0

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if steps < self.steps:
            raise SystemExit(f"an epoch has only {steps} steps; use a larger set or fewer --steps")
        self.started = time.perf_counter()

    def step(self, done: int) -> None:
        if done >= self.steps:
            self.ended = time.perf_counter()
            raise _Enough

    def epoch_end(self, record: object) -> None: ...


def child(args: argparse.Namespace) -> None:
    with Sampler() as sampler:
        result = _child_run(args, sampler)
    result.update(peak_rss=_status()["VmHWM"], peak_anon=sampler.peak_anon, peak_file=sampler.peak_file)
    Path(args.result).write_text(json.dumps(result))


def _child_run(args: argparse.Namespace, sampler: Sampler) -> dict:
    import torch

    from practica.config.schema import DatasetSpec, ModelSpec, TrainSpec
    from practica.data import prepare_data
    from practica.data.storage.mapped import is_mapped
    from practica.evaluation.predictors import TorchPredictor
    from practica.models.classifier import Classifier, input_stats
    from practica.models.registry import build_network
    from practica.training.trainer import fit

    torch.set_num_threads(args.threads)
    times: dict[str, float] = {}
    base = _status()["RssAnon"]  # after the imports

    sampler.phase("prepare")
    t = time.perf_counter()
    spec = DatasetSpec(source="npy", path=Path(args.x), labels=Path(args.y), memmap=args.mode == "memmap",
                       clean={"near_distance": None}, split={"val": 0.05, "test": 0.05, "seed": 0})
    splits = prepare_data(spec)
    times["prepare"] = time.perf_counter() - t
    sampler.phase(None)
    mapped = all(is_mapped(getattr(splits, p).x) for p in ("train", "val", "test"))

    model_spec = ModelSpec(layers=[{"conv": 16}, "relu", "maxpool", {"conv": 32}, "relu", "global_avgpool"])
    built: list[torch.nn.Module] = []

    def make_body() -> torch.nn.Module:  # called by fit after seeding: the same weights in every run
        built.append(build_network(model_spec, splits.train.input_shape, len(splits.classes)))
        return built[0]

    sampler.phase("train")
    anon_at_train = _status()["RssAnon"]
    t = time.perf_counter()
    events = _StopAfter(args.steps)
    with contextlib.suppress(_Enough):
        fit(make_body, splits.train, splits.val, TrainSpec(epochs=1, batch_size=args.batch, seed=0),
            events=events, device="cpu")
    times["train"] = time.perf_counter() - t
    times["steps"] = events.ended - events.started  # the steps alone, without fit's input statistics
    sampler.phase("eval")
    t = time.perf_counter()
    mean, std = input_stats(splits.train.x)  # fit's own statistics (its model is not returned when stopped)
    proba = TorchPredictor(Classifier(built[0], mean, std).eval()).predict_proba(splits.val.x)
    times["eval"] = time.perf_counter() - t
    sampler.phase(None)
    accuracy = float((proba.argmax(1) == splits.val.y).mean())
    return {"size": args.size, "mode": args.mode, "mapped": mapped, "train": len(splits.train), "val": len(splits.val),
            "test": len(splits.test), "seconds": times, "val_accuracy": accuracy, "anon_after_imports": base,
            "anon_at_train_start": anon_at_train,
            "peak_anon_by_phase": sampler.phases}


# ---------------------------------------------------------------------------------- parent


def _available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def run_one(args: argparse.Namespace, work: Path, size: int, mode: str, x: Path, y: Path) -> dict:
    cache = work / f"cache-{size}-{mode}"
    shutil.rmtree(cache, ignore_errors=True)
    result_path = work / f"result-{size}-{mode}.json"
    env = {**os.environ, "PRACTICA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--size", str(size), "--x", str(x), "--y", str(y),
           "--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads),
           "--result", str(result_path)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, check=False)
    wall = time.perf_counter() - started
    shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        return {"size": size, "mode": mode, "error": f"exit code {proc.returncode}", "wall": wall}
    result = json.loads(result_path.read_text())
    result["wall"] = wall
    return result


def _gb(b: float) -> str:
    return f"{b / 2**30:.2f}"


def _train(r: dict) -> int:
    return r["peak_anon_by_phase"]["train"]


def table(results: list[dict], sizes: list[int]) -> str:
    head = ("| images | set GB | mode | peak RSS GB | peak RssAnon GB | RssAnon training GB | peak RssFile GB | "
            "prepare s | train s (steps) | eval s | process s | val acc |")
    lines = [head, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        set_gb = _gb(r["size"] * np.prod(SHAPE))
        if "error" in r or "skipped" in r:
            lines.append(f"| {r['size']:,} | {set_gb} | {r['mode']} | {r.get('skipped') or r.get('error')} "
                         "| | | | | | | | |")
            continue
        s = r["seconds"]
        lines.append(f"| {r['size']:,} | {set_gb} | {r['mode']} | {_gb(r['peak_rss'])} | {_gb(r['peak_anon'])} | "
                     f"{_gb(_train(r))} | {_gb(r['peak_file'])} | {s['prepare']:.1f} | "
                     f"{s['train']:.1f} ({s['steps']:.1f}) | "
                     f"{s['eval']:.1f} | {r['wall']:.1f} | {r['val_accuracy']:.4f} |")
    ok = {(r["size"], r["mode"]): r for r in results if "peak_rss" in r}
    lines += ["", "| ratio | peak RSS | peak RssAnon | RssAnon training | process s |", "|---|---:|---:|---:|---:|"]
    small, large = min(sizes), max(sizes)
    for mode in ("memmap", "memory"):
        a, b = ok.get((small, mode)), ok.get((large, mode))
        if a and b:
            lines.append(f"| {mode}: {large:,} / {small:,} images | {b['peak_rss'] / a['peak_rss']:.2f}× | "
                         f"{b['peak_anon'] / a['peak_anon']:.2f}× | {_train(b) / _train(a):.2f}× | "
                         f"{b['wall'] / a['wall']:.2f}× |")
    for size in sizes:
        a, b = ok.get((size, "memmap")), ok.get((size, "memory"))
        if a and b:
            lines.append(f"| memmap / in memory, {size:,} images | {a['peak_rss'] / b['peak_rss']:.2f}× | "
                         f"{a['peak_anon'] / b['peak_anon']:.2f}× | {_train(a) / _train(b):.2f}× | "
                         f"{a['wall'] / b['wall']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", choices=("memmap", "memory"), default=["memmap", "memory"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--workdir", type=Path, default=None, help="where the synthetic sets and caches go (default: /tmp)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the synthetic sets (reused by a later run with --workdir)")
    ap.add_argument("--json", type=Path, default=None)
    # the child's arguments
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--mode", "--x", "--y", "--result"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="practica-data-memory-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    results = []
    try:
        for size in sorted(args.sizes):
            t = time.perf_counter()
            x, y = make_set(work / f"set-{size}", size)
            print(f"{size:,} images: {x} ({x.stat().st_size / 2**30:.2f} GB) in {time.perf_counter() - t:.1f} s",
                  flush=True)
            for mode in args.modes:
                need = IN_MEMORY_FACTOR * x.stat().st_size
                if mode == "memory" and need > FIT_SHARE * _available():
                    results.append({"size": size, "mode": mode, "skipped": f"skipped: needs ~{_gb(need)} GB"})
                    continue
                r = run_one(args, work, size, mode, x, y)
                print(json.dumps(r), flush=True)
                results.append(r)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.keep:
            for p in work.glob("set-*"):
                shutil.rmtree(p, ignore_errors=True)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; Python "
               f"{platform.python_version()}, numpy {np.__version__}")
    print()
    print(machine)
    print(table(results, sorted(args.sizes)))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
