"""What ``precision: auto`` chooses on this machine, for a few networks, and what deciding costs.

For each case, practica's own training set-up (``trainer.Run.prepare``: the network as a suite builds it, its
optimizer, the run's batch size) runs the probe ``fit`` runs (``training/precision.py``) on random data of
the case's shape, ``--repeat`` times with the process cache cleared between, and prints the decision, both
medians (ms per training step) and the probe's cost: a decision that flips between repeats is one the
margin cannot tell on this machine.

    .venv/bin/python bench/precision_auto.py [--cases fastnet-cifar mlp-digits] [--repeat 3] [--threads 2]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from machine import describe_machine, machine_info  # bench/machine.py

# name: (model spec, input shape (C, H, W) or (F,), classes, train settings)
CASES = {
    "fastnet-cifar": ({"arch": "fastnet", "params": {"widths": [64, 256, 256]}}, (3, 32, 32), 10,
                      {"batch_size": 512, "optimizer": {"name": "sgd", "lr": 0.2, "momentum": 0.85, "nesterov": True}}),
    "fast-cifar": ({"arch": "fastnet", "params": {"widths": [48, 192, 192], "tta": 2}}, (3, 32, 32), 10,
                   {"batch_size": 256, "optimizer": {"name": "sgd", "lr": 0.325, "momentum": 0.85, "nesterov": True}}),
    "mlp-digits": ({"arch": "mlp", "params": {"hidden": [128, 64]}}, (64,), 10,
                   {"batch_size": 64, "optimizer": {"name": "adam", "lr": 0.001}}),
}


def decide_once(name: str) -> dict:
    import numpy as np

    from practica.config.schema import ModelSpec, TrainSpec
    from practica.data.records import Dataset
    from practica.models.registry import build_network
    from practica.training import precision
    from practica.training.device import Device
    from practica.training.trainer import Run

    model, shape, classes, train = CASES[name]
    spec = TrainSpec(precision="auto", epochs=1, **train)
    rng = np.random.default_rng(0)
    n = 2 * spec.batch_size
    if len(shape) == 3:  # images as a data set holds them: uint8, height × width × channels
        c, h, w = shape
        x = rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)
    else:
        x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = np.arange(n) % classes
    data = Dataset(name, x, y, tuple(str(i) for i in range(classes)))
    precision.forget_decisions()
    dev = Device("cpu", precision="auto", images=data.kind == "image")
    started = time.perf_counter()
    Run.prepare(lambda: build_network(ModelSpec.model_validate(model), shape, classes), data, data, spec, (), dev,
                None)
    prepare_s = time.perf_counter() - started
    choice = dev.choice
    assert choice is not None  # Run.prepare decides the precision
    return {"case": name, "used": choice.used, "ms_fp32": choice.ms_fp32, "ms_bf16": choice.ms_bf16,
            "probe_s": choice.probe_seconds, "prepare_s": prepare_s, "reason": choice.reason,
            "line": choice.describe()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["fastnet-cifar", "mlp-digits"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    machine = machine_info()
    print(f"machine: {describe_machine(machine)}; torch {torch.__version__}, {args.threads} threads", flush=True)
    results = []
    for name in args.cases:
        for i in range(args.repeat):
            r = decide_once(name)
            results.append(r)
            print(f"{name} #{i + 1}: {r['line']}; probe {r['probe_s']:.1f} s "
                  f"(set-up with it {r['prepare_s']:.1f} s); {r['reason']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "threads": args.threads, "results": results}, indent=1))


if __name__ == "__main__":
    main()
