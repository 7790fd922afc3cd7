"""Training throughput, like for like: practica vs a hand-written PyTorch loop vs Keras 3 / TensorFlow
``model.fit``, each in bf16 and in fp32, in one run.

The reference CNN is the classic Keras CIFAR-10 example (practica's ``arch: keras_cnn``):
conv32-conv32-pool-drop, conv64-conv64-pool-drop, dense512-drop, dense10; 1.25 M parameters,
about 41.5 MFLOP forward per 32×32 image. Every contender trains it on the same arrays (a fixed
subset of the real CIFAR-10 training images, decoded by practica's cached folder loader), at the
same batch size, with Adam (lr 1e-3), no augmentation, on the same number of threads, each in a
subprocess of its own, in each precision of ``--precisions`` (bf16 and fp32):

  practica   practica.training.trainer.fit (its real loop: uint8 data resident, normalisation in
             the model, per-step bookkeeping; an epoch also evaluates a tiny val set), with
             train.precision bf16 (autocast, channels-last) or fp32
  hand       a minimal PyTorch loop: the same nn.Module (practica's zoo), data normalised once into
             one float tensor, shuffled per epoch, batches sliced, torch.optim.Adam; bf16: under
             bf16 autocast with model and batches channels-last, as one would write it
  keras      the same architecture in Keras 3 on TensorFlow (channels_last), ``model.fit`` on NumPy
             arrays, dtype policy mixed_bfloat16 or float32; TensorFlow comes from its own
             virtualenv, bench/.venv-tf, made if missing
  matmul     torch.matmul of two large square matrices on the same threads, fp32 and bf16:
             the peaks the achieved GFLOP/s is compared with (measured before and after the contenders)

Each contender runs one warm-up epoch (compilation, allocator, caches), then ``--epochs`` timed
epochs over the same ``--samples`` images; images/s = images trained in the timed epochs / their
wall time; the contenders run interleaved, in a rotated order, ``--rounds`` times, and the medians
are reported. Achieved GFLOP/s = 3 × forward FLOPs per image × images/s (a training step is about
three forward passes: forward, gradient w.r.t. activations, gradient w.r.t. weights).

Like for like is the same precision: practica bf16 / Keras mixed_bfloat16 and practica fp32 / Keras
float32, each against the target ≥ 1.5×; and practica bf16 against ≥ 25% of the bf16 matmul peak.

    .venv/bin/python bench/train_throughput.py [--precisions bf16 fp32] [--samples 5120] [--epochs 2]
        [--rounds 3] [--threads 2] [--batch 128] [--only practica hand keras] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import describe_machine, describe_precision, machine_info  # bench/machine.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "data" / "cifar10-jpeg" / "train"
TF_VENV = HERE / ".venv-tf"
# Pinned: the version this benchmark was written and checked with (Python 3.11, x86-64 Linux).
TF_REQUIREMENTS = ["tensorflow-cpu==2.21.0", "keras==3.15.1"]

CONTENDERS = ("practica", "hand", "keras")
PRECISIONS = ("bf16", "fp32")
KERAS_POLICY = {"bf16": "mixed_bfloat16", "fp32": "float32"}  # Keras's dtype policy for each precision
TARGET_VS_KERAS = 1.5  # practica's images/s ≥ 1.5× Keras/TF's at the same precision, same run
TARGET_OF_BF16_PEAK = 0.25  # practica bf16's achieved GFLOP/s ≥ 25% of the bf16 matmul peak, same run
TRAIN_FLOPS_PER_FORWARD = 3.0
VAL_SAMPLES = 128  # the tiny val set practica's epoch evaluates (its cost is in practica's timing)


# ============================================================================================
# Workers: each runs in its own process (``--worker NAME``), reads the arrays from ``--data``
# and writes its result as JSON to ``--result``. Only the standard library is imported at module
# level, so the Keras worker runs under the TensorFlow virtualenv without torch or practica.
# ============================================================================================
def _load_arrays(path: str):
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _normalised_nhwc(x):
    """uint8 N×H×W×C → float32 in [0, 1], standardised per channel with the subset's own statistics."""
    import numpy as np

    xf = x.astype(np.float32) / 255.0
    mean = xf.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    std = xf.std(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    return (xf - mean) / std


def _torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set: only possible if something ran parallel work first
        torch.set_num_interop_threads(1)


def worker_matmul(args) -> dict:
    import torch

    _torch_threads(args.threads)
    n = args.matmul_size
    out = {"size": n, "threads": torch.get_num_threads()}
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        c = torch.empty(n, n, dtype=dtype)
        torch.matmul(a, b, out=c)  # warm-up: packing buffers, kernel selection
        rates = []
        began = time.perf_counter()
        while len(rates) < 3 or (time.perf_counter() - began < args.matmul_seconds and len(rates) < 50):
            t0 = time.perf_counter()
            torch.matmul(a, b, out=c)
            rates.append(2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
        out[name] = {"best_gflops": max(rates), "median_gflops": statistics.median(rates), "reps": len(rates)}
    out["torch"] = torch.__version__
    return out


def worker_practica(args) -> dict:
    import numpy as np
    import torch

    from practica.config.schema import OptimizerSpec, TrainSpec
    from practica.data.records import Dataset
    from practica.models.zoo import keras_cnn
    from practica.training.trainer import fit

    _torch_threads(args.threads)
    arrays = _load_arrays(args.data)
    classes = tuple(str(c) for c in arrays["classes"])
    train = Dataset(name="bench", x=arrays["x"], y=arrays["y"].astype(np.int64), classes=classes)
    val = Dataset(name="bench-val", x=arrays["x_val"], y=arrays["y_val"].astype(np.int64), classes=classes)
    spec_args = {"epochs": 1 + args.epochs, "batch_size": args.batch,
                 "optimizer": OptimizerSpec(name="adam", lr=1e-3), "seed": 0}
    has_precision = "precision" in TrainSpec.model_fields
    if args.precision is not None:
        if not has_precision:
            raise SystemExit("--precision: this practica's TrainSpec has no 'precision' option; leave it out (fp32)")
        spec_args["precision"] = args.precision
    spec = TrainSpec(**spec_args)
    precision = str(getattr(spec, "precision", "fp32"))

    class CpuClock:  # the process's CPU time over each epoch: how many cores the loop really used
        def __init__(self):
            self.cpu: list[float] = []

        def epoch_start(self, epoch, epochs, steps):
            self._t = time.process_time()

        def step(self, done):
            pass

        def epoch_end(self, record):
            self.cpu.append(time.process_time() - self._t)

    clock = CpuClock()
    shape = train.input_shape
    result = fit(lambda: keras_cnn(shape, len(classes)), train, val, spec, events=clock, device="cpu")
    records = result.history.epochs
    timed = records[1:]
    if not timed:
        stopped = result.history.stop_reason
        raise SystemExit(f"practica stopped after {len(records)} epoch(s) ({stopped}); nothing was timed")
    wall = sum(r.seconds for r in timed)
    n = len(train)
    return {
        "images_per_s": n * len(timed) / wall,
        "epoch_seconds": [r.seconds for r in records],
        "timed_seconds": wall,
        "timed_images": n * len(timed),
        "cores_used": sum(clock.cpu[1:]) / wall,
        "final_train_loss": records[-1].train_loss,
        "params": sum(p.numel() for p in result.model.body.parameters()),
        "precision": precision,  # the setting
        "precision_used": describe_precision(result.history),  # what it trained in (auto: measured, and why)
        "computed_in": result.history.precision.used if result.history.precision else precision,
        "note": f"each epoch also evaluates {len(val)} val images (in the timing)",
        "torch": torch.__version__,
    }


def worker_hand(args) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from practica.models.zoo import keras_cnn

    _torch_threads(args.threads)
    bf16 = args.precision == "bf16"
    arrays = _load_arrays(args.data)
    x = torch.from_numpy(np.ascontiguousarray(_normalised_nhwc(arrays["x"]).transpose(0, 3, 1, 2)))
    y = torch.from_numpy(arrays["y"].astype(np.int64))
    torch.manual_seed(0)
    model = keras_cnn(tuple(x.shape[1:]), int(y.max()) + 1)
    layout = torch.channels_last if bf16 else torch.contiguous_format  # oneDNN's bf16 convolutions want NHWC
    model = model.to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n, batch = len(x), args.batch
    seconds, cpu, losses = [], [], []
    model.train()
    for _ in range(1 + args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            xb, yb = x[idx].contiguous(memory_format=layout), y[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        losses.append(total / n)
    wall = sum(seconds[1:])
    return {
        "images_per_s": n * args.epochs / wall,
        "epoch_seconds": seconds,
        "timed_seconds": wall,
        "timed_images": n * args.epochs,
        "cores_used": sum(cpu[1:]) / wall,
        "final_train_loss": losses[-1],
        "params": sum(p.numel() for p in model.parameters()),
        "precision": "bf16 autocast, channels-last" if bf16 else "fp32",
        "computed_in": "bf16" if bf16 else "fp32",
        "torch": torch.__version__,
    }


def worker_keras(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.keras_inter_op)
    import keras
    from keras import layers

    if args.keras_policy != "float32":
        keras.mixed_precision.set_global_policy(args.keras_policy)

    arrays = _load_arrays(args.data)
    x = _normalised_nhwc(arrays["x"])
    y = arrays["y"].astype(np.int64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=x.shape[1:]),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(int(y.max()) + 1, dtype="float32"),  # logits in fp32 under a mixed policy, as Keras advises
    ])
    jit = {"auto": "auto", "on": True, "off": False}[args.keras_jit]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self.cpu: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t, self._c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)
            self.cpu.append(time.process_time() - self._c)

    clock = EpochClock()
    history = model.fit(x, y, batch_size=args.batch, epochs=1 + args.epochs, shuffle=True, verbose=0, callbacks=[clock])
    wall = sum(clock.seconds[1:])
    n = len(x)
    return {
        "images_per_s": n * args.epochs / wall,
        "epoch_seconds": clock.seconds,
        "timed_seconds": wall,
        "timed_images": n * args.epochs,
        "cores_used": sum(clock.cpu[1:]) / wall,
        "final_train_loss": float(history.history["loss"][-1]),
        "params": int(model.count_params()),
        "precision": str(keras.config.dtype_policy().name),
        "computed_in": "bf16" if "bfloat16" in str(keras.config.dtype_policy().name) else "fp32",
        "jit_compile": bool(model.jit_compile),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "onednn_fpmath": os.environ.get("TF_SET_ONEDNN_FPMATH_MODE", "default (strict fp32)"),
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
    }


WORKERS = {"matmul": worker_matmul, "practica": worker_practica, "hand": worker_hand, "keras": worker_keras}


# ============================================================================================
# The driver
# ============================================================================================
def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat; steal counts as busy (not ours)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def forward_flops(input_shape=(3, 32, 32), classes: int = 10) -> tuple[float, int]:
    """Forward FLOPs per image (2 × multiply-adds of the convolutions and dense layers) and parameters
    of practica's keras_cnn, counted from the module itself."""
    import torch
    from torch import nn

    from practica.models.zoo import keras_cnn

    model = keras_cnn(input_shape, classes)
    flops = [0.0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            flops[0] += 2.0 * out[0].numel() * k
        elif isinstance(mod, nn.Linear):
            flops[0] += 2.0 * mod.in_features * mod.out_features

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    return flops[0], sum(p.numel() for p in model.parameters())


def prepare_data(samples: int, path: Path) -> dict:
    """A fixed, class-balanced subset of CIFAR-10's training images (and a tiny val set beside it),
    written to ``path`` for every worker to read."""
    import numpy as np

    from practica.config.schema import SourceSpec
    from practica.data.sources.load import load_source

    if not DATA.is_dir():
        sys.exit(f"no CIFAR-10 JPEG images under {DATA}; the benchmark trains on the real ones")
    t0 = time.perf_counter()
    data = load_source(SourceSpec(source="folder", path=DATA))
    loaded = time.perf_counter() - t0
    if samples + VAL_SAMPLES > len(data):
        sys.exit(f"--samples {samples} + {VAL_SAMPLES} val images is more than the {len(data)} images available")
    order = np.random.default_rng(0).permutation(len(data))
    # Interleave the classes so any prefix is balanced: the k-th image of every class, then the k+1-th.
    rank = np.empty(len(data), dtype=np.int64)
    for c in range(len(data.classes)):
        members = order[data.y[order] == c]
        rank[members] = np.arange(len(members)) * len(data.classes) + c
    picked = np.argsort(rank, kind="stable")
    train_idx, val_idx = picked[:samples], picked[samples : samples + VAL_SAMPLES]
    np.savez(
        path,
        x=data.x[train_idx], y=data.y[train_idx].astype(np.int64),
        x_val=data.x[val_idx], y_val=data.y[val_idx].astype(np.int64),
        classes=np.array(data.classes),
    )
    return {"source": str(DATA.relative_to(ROOT)), "available": len(data), "samples": samples,
            "val_samples": VAL_SAMPLES, "shape": list(data.x.shape[1:]), "load_seconds": loaded}


def ensure_tf_venv(install: bool) -> Path:
    python = TF_VENV / "bin" / "python"
    if python.exists() and list(TF_VENV.glob("lib/python3*/site-packages/tensorflow/__init__.py")):
        return python
    if not install:
        sys.exit(f"no TensorFlow virtualenv at {TF_VENV}; run without --no-install-tf to make it, or leave out keras")
    print(f"making {TF_VENV} with {' '.join(TF_REQUIREMENTS)} (a large download, once) ...", flush=True)
    if not python.exists():
        # The system Python (3.11 here), whose wheels TensorFlow publishes; the project's own otherwise.
        base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        subprocess.run([base, "-m", "venv", str(TF_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *TF_REQUIREMENTS, "numpy"], check=True)
    return python


@dataclass(frozen=True)
class Entry:
    """One contender in one precision: ``practica bf16``, ``keras fp32``, ``matmul``."""

    worker: str  # practica | hand | keras | matmul
    precision: str = ""  # practica's train.precision (fp32 | bf16 | auto); the hand loop's fp32 | bf16
    keras_policy: str = ""  # keras: float32 | mixed_bfloat16

    @property
    def label(self) -> str:
        if self.worker == "keras":
            return f"keras {self.keras_policy}"
        return f"{self.worker} {self.precision}".strip()


def entries_for(args) -> list[Entry]:
    """The contenders of this run, in order: each framework of ``--only`` in each precision of ``--precisions``
    (``--precision`` and ``--keras-policy``, when given, set practica's and Keras's alone, as before)."""
    out = []
    for worker in (c for c in CONTENDERS if c in args.only):
        if worker == "keras":
            policies = [args.keras_policy] if args.keras_policy else [KERAS_POLICY[p] for p in args.precisions]
            out += [Entry("keras", keras_policy=policy) for policy in policies]
        elif worker == "practica" and args.precision is not None:
            out.append(Entry("practica", precision=args.precision))
        else:
            out += [Entry(worker, precision=p) for p in args.precisions]
    return out


def run_worker(entry: Entry, python: Path, data: Path, args, workdir: Path) -> dict:
    result = workdir / f"{entry.label.replace(' ', '-')}.json"
    result.unlink(missing_ok=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", entry.worker, "--data", str(data),
           "--result", str(result), "--threads", str(args.threads), "--batch", str(args.batch),
           "--epochs", str(args.epochs), "--matmul-size", str(args.matmul_size),
           "--matmul-seconds", str(args.matmul_seconds), "--keras-jit", args.keras_jit,
           "--keras-inter-op", str(args.keras_inter_op)]
    if entry.precision:
        cmd += ["--precision", entry.precision]
    if entry.keras_policy:
        cmd += ["--keras-policy", entry.keras_policy]
    env = dict(os.environ)
    threads = str(args.threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=str(args.keras_inter_op))
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = _cpu_jiffies()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    busy1, total1 = _cpu_jiffies()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not result.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        return {"error": f"worker {entry.label} failed (exit {proc.returncode}):\n{tail}"}
    out = json.loads(result.read_text())
    # Other load: the machine's busy share of all cores while this worker ran, less the worker's own CPU.
    ours = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    ticks = os.sysconf("SC_CLK_TCK")
    if total1 > total0:
        cores = os.cpu_count() or 1
        machine_busy = (busy1 - busy0) / ticks  # core-seconds
        out["other_load_pct"] = max(0.0, (machine_busy - ours) / (wall * cores) * 100)
    out["process_seconds"] = wall
    return out


def median_of(runs: list[dict], key: str) -> float:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


def pairings(rows: dict[str, dict]) -> list[dict]:
    """Every ratio worth reading, like for like (the same precision computed) or not: practica against Keras in
    each pair of precisions, practica against the hand loop and the hand loop against Keras in the same one.
    The like-for-like practica / Keras ratios carry the target."""
    def computed(label: str) -> str:
        return rows[label]["computed_in"]

    def by(worker: str) -> list[str]:
        return [label for label in rows if label.split()[0] == worker]

    out = []
    for a_worker, b_worker, same_only in (("practica", "keras", False), ("practica", "hand", True),
                                          ("hand", "keras", True)):
        for a in by(a_worker):
            for b in by(b_worker):
                like = computed(a) == computed(b)
                if same_only and not like:
                    continue
                ratio = rows[a]["images_per_s"] / rows[b]["images_per_s"]
                # best round against best round too: a contender whose rounds are bimodal (Keras's, on some
                # hosts) cannot carry a target by where its median happens to land; a target needs both
                best = max(rows[a]["images_per_s_rounds"]) / max(rows[b]["images_per_s_rounds"])
                target = TARGET_VS_KERAS if like and (a_worker, b_worker) == ("practica", "keras") else None
                out.append({"pairing": f"{a} / {b}", "ratio": ratio, "best_ratio": best, "like_for_like": like,
                            "precisions": f"{computed(a)} / {computed(b)}", "target": target,
                            "met": None if target is None else min(ratio, best) >= target})
    out.sort(key=lambda r: (r["target"] is None, not r["like_for_like"]))  # targets first, then like for like
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                   help="precisions every contender trains in: bf16 (practica's train.precision bf16, the hand loop "
                        "under bf16 autocast, Keras's mixed_bfloat16) and fp32 (float32)")
    p.add_argument("--samples", type=int, default=5120, help="training images per epoch (a fixed CIFAR-10 subset)")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per contender, after one warm-up epoch")
    p.add_argument("--threads", type=int, default=2, help="compute threads of every contender (intra-op)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS), help="contenders to run")
    p.add_argument("--rounds", type=int, default=3,
                   help="run the contenders this many times, interleaved; medians reported")
    p.add_argument("--precision", default=None,
                   help="practica's train.precision alone (fp32 | bf16 | auto), instead of --precisions")
    p.add_argument("--keras-jit", choices=("auto", "on", "off"), default="auto",
                   help="Keras compile(jit_compile=...): XLA; auto is Keras's default (off on CPU)")
    p.add_argument("--keras-policy", choices=("float32", "mixed_bfloat16"), default=None,
                   help="Keras's dtype policy alone, instead of --precisions' (mixed_bfloat16 computes in bf16: AMX "
                        "through oneDNN)")
    p.add_argument("--keras-inter-op", type=int, default=1, help="TensorFlow inter-op threads (intra-op: --threads)")
    p.add_argument("--matmul-size", type=int, default=4096)
    p.add_argument("--matmul-seconds", type=float, default=3.0, help="time spent per dtype on the matmul peak")
    p.add_argument("--no-install-tf", action="store_true", help="fail instead of making bench/.venv-tf")
    p.add_argument("--json", type=Path, help="write everything to this file")
    # internal: run one contender in this process
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        if args.worker == "keras" and args.keras_policy is None:
            args.keras_policy = "float32"
        out = WORKERS[args.worker](args)
        Path(args.result).write_text(json.dumps(out))
        return 0

    if args.samples < args.batch:
        sys.exit(f"--samples ({args.samples}) must be at least one batch ({args.batch})")
    if args.precision is not None and "practica" in args.only:
        from practica.config.schema import TrainSpec

        if "precision" not in TrainSpec.model_fields:
            sys.exit("--precision: this practica's TrainSpec has no 'precision' option yet; leave it out (fp32)")
    machine = machine_info()
    print(f"machine: {describe_machine(machine)}", flush=True)
    entries = entries_for(args)
    tf_python = ensure_tf_venv(not args.no_install_tf) if "keras" in args.only else None
    fwd_flops, params = forward_flops()
    step_flops = TRAIN_FLOPS_PER_FORWARD * fwd_flops
    pythons = {"practica": Path(sys.executable), "hand": Path(sys.executable), "keras": tf_python,
               "matmul": Path(sys.executable)}
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="train-throughput-") as tmp:
        workdir = Path(tmp)
        data_path = workdir / "data.npz"
        print(f"data: {args.samples} CIFAR-10 training images (+{VAL_SAMPLES} val for practica) ...", flush=True)
        data_info = prepare_data(args.samples, data_path)
        matmul = Entry("matmul")
        runs: dict[str, list[dict]] = {e.label: [] for e in [matmul, *entries]}
        errors: list[str] = []

        def one(entry: Entry) -> None:
            print(f"  {entry.label} ...", end=" ", flush=True)
            out = run_worker(entry, pythons[entry.worker], data_path, args, workdir)
            if "error" in out:
                errors.append(out["error"])
                print("FAILED", flush=True)
                return
            runs[entry.label].append(out)
            if entry.worker == "matmul":
                print(f"fp32 {out['fp32']['best_gflops']:.0f} GFLOP/s, bf16 {out['bf16']['best_gflops']:.0f} GFLOP/s",
                      flush=True)
            else:
                print(f"{out['images_per_s']:.0f} images/s ({out['process_seconds']:.0f} s)", flush=True)

        one(matmul)
        for r in range(args.rounds):
            if args.rounds > 1:
                print(f"round {r + 1}/{args.rounds}", flush=True)
            # Rotate the order every round so drift in the machine's load does not favour one contender.
            k = r % len(entries)
            for entry in entries[k:] + entries[:k]:
                one(entry)
        one(matmul)

    machine["loadavg_end"] = os.getloadavg()[0]
    import torch

    machine["torch"] = torch.__version__
    keras_runs = [run for e in entries if e.worker == "keras" for run in runs[e.label]]
    if keras_runs:
        machine["tensorflow"] = keras_runs[0]["tensorflow"]
        machine["keras"] = keras_runs[0]["keras"]

    if not runs["matmul"]:
        print("\n".join(errors), file=sys.stderr)
        return 1
    peak32 = max(m["fp32"]["best_gflops"] for m in runs["matmul"])
    peak16 = max(m["bf16"]["best_gflops"] for m in runs["matmul"])

    rows = {}
    for entry in entries:
        done = runs[entry.label]
        if not done:
            continue
        ips = median_of(done, "images_per_s")
        gflops = ips * step_flops / 1e9
        rows[entry.label] = {
            "images_per_s": ips,
            "images_per_s_rounds": [r["images_per_s"] for r in done],
            "gflops": gflops,
            "of_fp32_peak": gflops / peak32,
            "of_bf16_peak": gflops / peak16,
            "cores_used": median_of(done, "cores_used"),
            "other_load_pct": median_of(done, "other_load_pct"),
            "final_train_loss": done[-1]["final_train_loss"],
            "params": done[-1]["params"],
            "precision": done[-1].get("precision_used", done[-1]["precision"]),
            "computed_in": done[-1].get("computed_in", "fp32"),
            "runs": done,
        }

    ratios = pairings(rows)
    targets = {}
    for r in ratios:
        if r["target"] is not None:
            targets[f"{r['pairing']} >= {r['target']:g}x"] = {"value": r["ratio"], "best_rounds": r["best_ratio"],
                                                               "target": r["target"], "met": r["met"]}
    bf16_practica = next((label for label, row in rows.items()
                          if label.startswith("practica") and row["computed_in"] == "bf16"), None)
    if bf16_practica is not None:
        share = rows[bf16_practica]["of_bf16_peak"]
        targets[f"{bf16_practica} >= 25% of the bf16 matmul peak"] = {
            "value": share, "target": TARGET_OF_BF16_PEAK, "met": share >= TARGET_OF_BF16_PEAK}

    # ---------------------------------------------------------------------------- the report
    flags = ", ".join(machine["flags"]) or "none of avx2/avx512/amx"
    print()
    print(f"machine: {describe_machine(machine)} → {machine['loadavg_end']:.1f} at the end; flags: {flags}")
    versions = f"torch {machine['torch']}"
    if "tensorflow" in machine:
        versions += f", tensorflow {machine['tensorflow']}, keras {machine['keras']}"
    print(f"versions: python {machine['python']}, {versions}")
    print(f"model: keras_cnn, {params / 1e6:.3f} M parameters, {fwd_flops / 1e6:.1f} MFLOP forward per image, "
          f"training counted as {TRAIN_FLOPS_PER_FORWARD:g}× = {step_flops / 1e6:.1f} MFLOP per image")
    print(f"run: {args.samples} images × ({args.epochs} timed + 1 warm-up) epochs, batch {args.batch}, Adam 1e-3, "
          f"{args.threads} threads, no augmentation, {args.rounds} round(s), {time.perf_counter() - started:.0f} s")
    each = {dt: " / ".join(f"{m[dt]['best_gflops']:.0f}" for m in runs["matmul"]) for dt in ("fp32", "bf16")}
    print(f"matmul peak ({args.matmul_size}², {args.threads} threads, best of before / after): "
          f"fp32 {peak32:.0f} GFLOP/s ({each['fp32']}), bf16 {peak16:.0f} GFLOP/s ({each['bf16']})")
    print()
    header = (f"{'contender':<21} {'images/s':>8}  {'rounds':<17} {'GFLOP/s':>7} {'% bf16 pk':>9} {'% fp32 pk':>9} "
              f"{'cores':>5} {'other':>6} {'loss':>6}  precision (as trained)")
    print(header)
    print("-" * len(header))
    for label, row in rows.items():
        each_round = "/".join(f"{v:.0f}" for v in row["images_per_s_rounds"])
        print(f"{label:<21} {row['images_per_s']:>8.0f}  {each_round:<17} {row['gflops']:>7.1f} "
              f"{row['of_bf16_peak'] * 100:>8.1f}% {row['of_fp32_peak'] * 100:>8.1f}% {row['cores_used']:>5.2f} "
              f"{row['other_load_pct']:>5.1f}% {row['final_train_loss']:>6.3f}  {row['precision']}")
    print("images/s: median of the rounds; cores: CPU time / wall time over the timed epochs; other: the rest of the "
          "machine's load (and steal), % of all cores, over the whole worker; loss: mean training loss of the last "
          f"epoch; every contender trains {params:,} parameters")
    keras_rows = [rows[e.label]["runs"][-1] for e in entries if e.worker == "keras" and e.label in rows]
    if keras_rows:
        k = keras_rows[-1]
        print(f"keras: jit_compile={k['jit_compile']}, threads intra/inter {k['threads']['intra_op']}/"
              f"{k['threads']['inter_op']}, oneDNN opts {k['onednn_opts']}, oneDNN fp32 math {k['onednn_fpmath']}")
    practica_rows = [rows[e.label]["runs"][-1] for e in entries if e.worker == "practica" and e.label in rows]
    if practica_rows:
        print(f"practica: {practica_rows[-1]['note']}")
    print()
    header = f"{'pairing':<44} {'ratio':>6} {'best':>6}  {'target':>7}  {'':<6}  like for like?"
    print(header)
    print("-" * len(header))
    for r in ratios:
        target = f"≥ {r['target']:g}×" if r["target"] is not None else ""
        verdict = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        like = "yes" if r["like_for_like"] else "no"
        print(f"{r['pairing']:<44} {r['ratio']:>5.2f}× {r['best_ratio']:>5.2f}×  {target:>7}  {verdict:<6}  {like} "
              f"({r['precisions']})")
    print("ratio: of the medians; best: of the best rounds; a target is met when both reach it")
    if bf16_practica is not None:
        t = targets[f"{bf16_practica} >= 25% of the bf16 matmul peak"]
        print(f"{bf16_practica + ': % of the bf16 matmul peak':<44} {t['value'] * 100:>5.1f}%  {'≥ 25%':>7}  "
              f"{'met' if t['met'] else 'MISSED':<6}  ({rows[bf16_practica]['gflops']:.0f} of {peak16:.0f} GFLOP/s)")
    noisy = [n for n, r in rows.items() if r["other_load_pct"] > 5]
    if noisy:
        print(f"warning: other load above 5% of the cores during {', '.join(noisy)}: the figures are not clean")
    for err in errors:
        print(err, file=sys.stderr)

    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine,
            "data": data_info,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                         if k not in ("worker", "data", "result")},
            "model": {"arch": "keras_cnn", "params": params, "forward_flops": fwd_flops, "train_flops": step_flops},
            "matmul": {"fp32_peak_gflops": peak32, "bf16_peak_gflops": peak16, "runs": runs["matmul"]},
            "contenders": rows,
            "ratios": ratios,
            "targets": targets,
            "errors": errors,
            "seconds": time.perf_counter() - started,
        }, indent=2))
        print(f"wrote {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
