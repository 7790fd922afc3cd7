"""Text training throughput: practica's ``fit`` vs a hand-written PyTorch loop, LSTM and transformer.

The models are practica's ``text_rnn`` (a bidirectional LSTM over packed sequences) and
``text_transformer`` (a small pre-norm encoder), built by the same builder for both contenders, on
the same texts: the shipped example ``src/practica/examples/sotu_sentences.csv`` (3,600 sentences,
no download), tokenised by the same word tokenizer fitted on them (``max_length`` fixed, so both
read the same int64 ids), at the same batch size, with Adam (lr 1e-3), on the same device, threads
and precision, each in a subprocess of its own:

  practica   practica.training.trainer.fit with the fitted tokenizer (its real loop: ids resident,
             per-step bookkeeping, the TextClassifier around the body; an epoch also evaluates a
             tiny val set, inside the timing)
  hand       a minimal PyTorch loop: the same body, the ids encoded once into one tensor, shuffled
             per epoch, batches sliced, cross-entropy, torch.optim.Adam (bf16: torch.autocast)

Each contender runs one warm-up epoch, then ``--epochs`` timed epochs over the same texts;
texts/s = texts trained in the timed epochs / their wall time. The contenders run ``--rounds``
times, interleaved (the order rotated each round), and the medians are compared: practica/hand
is the ratio of texts/s (1.00× = no overhead; the target is ≥ 0.90×).

    .venv/bin/python bench/text_train.py [--models lstm transformer] [--epochs 2] [--batch 64]
        [--threads 2] [--device cpu|cuda] [--precision fp32|bf16] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from epoch_cpu import EpochCpuClock  # bench/epoch_cpu.py

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "src" / "practica" / "examples" / "sotu_sentences.csv"
CONTENDERS = ("practica", "hand")
MODELS = {  # the same sizes as the shipped suite (src/practica/examples/text.yaml)
    "lstm": ("text_rnn", {"cell": "lstm", "bidirectional": True, "dim": 64, "hidden": 64, "dropout": 0.2}),
    "transformer": ("text_transformer", {"dim": 64, "heads": 4, "layers": 2, "ff": 128, "dropout": 0.1}),
}
MAX_LENGTH = 64  # word tokens per text (the sentences' 95th percentile is about 55)
VAL_SAMPLES = 128  # the tiny val set practica's epoch evaluates (its cost is in practica's timing)
TARGET = 0.90  # practica's texts/s ≥ 90% of the hand-written loop's, same run


# ============================================================================================
# Workers: each runs in its own process (``--worker NAME``) and writes its result as JSON.
# ============================================================================================
def read_texts(samples: int) -> tuple[list[str], list[int], list[str]]:
    with TEXTS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = sorted({row["period"] for row in rows})
    random.Random(0).shuffle(rows)  # the file is in year order: a prefix would be one period
    rows = (rows * (samples // len(rows) + 1))[:samples]  # repeated past 3,600, for a longer timed epoch
    return [row["text"] for row in rows], [classes.index(row["period"]) for row in rows], classes


def _setup(args):
    """Threads, the texts, the tokenizer fitted on them and a builder of the body: what both contenders share."""
    import torch

    from practica.config.schema import TokenizerSpec
    from practica.data.tokenizer import TextTokenizer
    from practica.models.text_nets import TEXT_ARCHITECTURES

    torch.set_num_threads(args.threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    texts, labels, classes = read_texts(args.samples)
    tokenizer = TextTokenizer.fit(texts, TokenizerSpec(kind="word", max_length=MAX_LENGTH))
    arch, params = MODELS[args.model]

    def build():
        return TEXT_ARCHITECTURES[arch]((tokenizer.max_length,), len(classes), vocab_size=tokenizer.vocab_size,
                                        **params)

    return texts, labels, classes, tokenizer, build


def worker_practica(args) -> dict:
    import numpy as np
    import torch

    from practica.config.schema import OptimizerSpec, TrainSpec
    from practica.data.records import Dataset
    from practica.training.trainer import fit

    texts, labels, classes, tokenizer, build = _setup(args)
    x = np.array(texts, dtype=object)
    y = np.array(labels, dtype=np.int64)
    train = Dataset(name="bench", x=x, y=y, classes=tuple(classes))
    val = Dataset(name="bench-val", x=x[:VAL_SAMPLES], y=y[:VAL_SAMPLES], classes=tuple(classes))
    spec = TrainSpec(epochs=1 + args.epochs, batch_size=args.batch, optimizer=OptimizerSpec(name="adam", lr=1e-3),
                     seed=0, precision=args.precision, early_stopping=False)

    clock = EpochCpuClock()  # the CPU time of each epoch: how many cores the loop really used
    torch.manual_seed(0)
    result = fit(build, train, val, spec, events=clock, device=args.device, tokenizer=tokenizer)
    records = result.history.epochs
    timed = records[1:]
    if not timed:
        raise SystemExit(f"practica stopped after {len(records)} epoch(s); nothing was timed")
    wall = sum(r.seconds for r in timed)
    return {"texts_per_s": len(train) * len(timed) / wall, "epoch_seconds": [r.seconds for r in records],
            "cores_used": sum(clock.cpu[1:]) / wall, "final_train_loss": records[-1].train_loss,
            "params": sum(p.numel() for p in result.model.parameters()),
            "note": f"each epoch also evaluates {len(val)} val texts (in the timing)"}


def worker_hand(args) -> dict:
    import torch
    from torch import nn

    texts, labels, _, tokenizer, build = _setup(args)
    device = torch.device(args.device)
    x = torch.from_numpy(tokenizer.encode(texts)).to(device)
    y = torch.tensor(labels, dtype=torch.int64, device=device)
    torch.manual_seed(0)
    model = build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    n, batch = len(x), args.batch
    seconds, cpu, losses = [], [], []
    model.train()
    for _ in range(1 + args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        for i in range(0, n, batch):
            idx = perm[i: i + batch]
            with autocast:
                loss = loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        losses.append(float(total) / n)  # one sync per epoch
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    wall = sum(seconds[1:])
    return {"texts_per_s": n * args.epochs / wall, "epoch_seconds": seconds, "cores_used": sum(cpu[1:]) / wall,
            "final_train_loss": losses[-1], "params": sum(p.numel() for p in model.parameters())}


WORKERS = {"practica": worker_practica, "hand": worker_hand}


# ============================================================================================
# The driver
# ============================================================================================
def run_worker(name: str, model: str, args, workdir: Path) -> dict:
    result = workdir / f"{name}-{model}.json"
    cmd = [sys.executable, __file__, "--worker", name, "--model", model, "--result", str(result),
           "--samples", str(args.samples), "--epochs", str(args.epochs), "--batch", str(args.batch),
           "--threads", str(args.threads), "--device", args.device, "--precision", args.precision]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"error": f"{name} {model} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}"}
    out = json.loads(result.read_text())
    out["process_seconds"] = time.perf_counter() - began
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    p.add_argument("--samples", type=int, default=3600, help="training texts per epoch (the shipped set, repeated)")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per contender, after one warm-up epoch")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads of every contender")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--rounds", type=int, default=2, help="contenders run this many times, interleaved; medians")
    p.add_argument("--json", type=Path, help="write everything to this file")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--model", choices=sorted(MODELS), help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        Path(args.result).write_text(json.dumps(WORKERS[args.worker](args)))
        return 0

    import torch

    machine = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
               "cores": os.cpu_count(), "loadavg_start": os.getloadavg()[0],
               "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None}
    runs: dict[str, dict[str, list[dict]]] = {m: {c: [] for c in CONTENDERS} for m in args.models}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="text-train-") as tmp:
        for r in range(args.rounds):
            for model in args.models:
                order = CONTENDERS[r % 2:] + CONTENDERS[: r % 2]  # alternate who goes first
                for name in order:
                    print(f"round {r + 1}/{args.rounds} {model:<11} {name:<8} ...", end=" ", flush=True)
                    out = run_worker(name, model, args, Path(tmp))
                    if "error" in out:
                        errors.append(out["error"])
                        print("FAILED", flush=True)
                        continue
                    runs[model][name].append(out)
                    print(f"{out['texts_per_s']:.0f} texts/s", flush=True)
    machine["loadavg_end"] = os.getloadavg()[0]

    gpu = f", {machine['gpu']}" if machine["gpu"] else ""
    print(f"\nmachine: {machine['platform']}, {machine['cores']} cores{gpu}; "
          f"python {machine['python']}, torch {machine['torch']}; "
          f"load avg {machine['loadavg_start']:.2f} → {machine['loadavg_end']:.2f}")
    print(f"run: {args.samples} texts (sotu_sentences.csv), word tokens cut at {MAX_LENGTH}, "
          f"({args.epochs} timed + 1 warm-up) epochs, batch {args.batch}, Adam 1e-3, {args.device}, {args.precision}, "
          f"{args.threads} threads, {args.rounds} round(s), medians")
    header = f"{'model':<12} {'contender':<9} {'texts/s':>9} {'cores':>6} {'loss':>7} {'params':>9}  rounds (texts/s)"
    print(header)
    print("-" * len(header))
    summary: dict[str, dict] = {}
    for model in args.models:
        rows = {}
        for name in CONTENDERS:
            got = runs[model][name]
            if not got:
                continue
            rate = statistics.median(g["texts_per_s"] for g in got)
            rows[name] = {"texts_per_s": rate, "cores_used": statistics.median(g["cores_used"] for g in got),
                          "final_train_loss": got[-1]["final_train_loss"], "params": got[-1]["params"], "runs": got}
            print(f"{model:<12} {name:<9} {rate:>9.0f} {rows[name]['cores_used']:>6.2f} "
                  f"{rows[name]['final_train_loss']:>7.3f} {rows[name]['params']:>9,}  "
                  + " / ".join(f"{g['texts_per_s']:.0f}" for g in got))
        ratio = rows["practica"]["texts_per_s"] / rows["hand"]["texts_per_s"] if len(rows) == 2 else None
        summary[model] = {"contenders": rows, "practica/hand": ratio,
                          "met": None if ratio is None else ratio >= TARGET}
    print()
    for model, s in summary.items():
        if s["practica/hand"] is not None:
            print(f"{model:<12} practica/hand {s['practica/hand']:.2f}× (target ≥ {TARGET:.2f}×) "
                  f"{'met' if s['met'] else 'MISSED'}")
    print("practica's epoch also evaluates 128 val texts; cores: CPU time / wall time over the timed epochs")
    for err in errors:
        print(err, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "settings": {k: (str(v) if isinstance(v, Path) else v)
                                         for k, v in vars(args).items() if k not in ("worker", "model", "result")},
                                         "models": summary, "errors": errors}, indent=2))
        print(f"wrote {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
