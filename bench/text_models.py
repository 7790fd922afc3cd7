"""Per-step training time of the text networks on CPU, fp32 and bf16 autocast, and what packing costs.

One training step (forward, cross-entropy, backward, Adam step) on a batch of random token ids
(``--batch`` texts of ``--length`` ids, vocabulary ``--vocab``), each text of a random length drawn
uniformly from ``--min-length``..``--length`` and padded with 0 at the end, as the tokenizer pads.
Every network is practica's own (``build_network``) with its default options; ``text_rnn`` is also
timed three more ways, to show what the packed path costs:

  text_rnn            packed sequences (``pack: always``; what ``auto`` runs on a GPU): no step on padding
  text_rnn:export     the unpacked path (``pack: never``; what export and ``auto`` on CPU run): layer by
                      layer, direction by direction on the padded tensor, the backward direction reversed
                      within each length; the same function as the packed path
  text_rnn:padded     ``nn.LSTM`` called once on the padded tensor, final states read as returned: what
                      a loop that ignores padding would run (faster, and not the same function: the
                      backward direction starts on padding)
  text_rnn:gru        the GRU cell, packed; ``:gru-export`` unpacked

Each timing: ``--warmup`` steps, then ``--steps`` timed steps; the median and the interquartile range
of the step times are reported. bf16 uses ``torch.autocast("cpu", dtype=torch.bfloat16)``.

    PYTHONPATH=src .venv/bin/python bench/text_models.py [--threads 2] [--steps 10] [--only text_cnn text_rnn]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
from torch import nn

from practica.config.schema import ModelSpec
from practica.models.registry import build_network

CASES = {
    "text_bag": ("text_bag", {}),
    "text_cnn": ("text_cnn", {}),
    "text_rnn": ("text_rnn", {"pack": "always"}),
    "text_rnn:export": ("text_rnn", {"pack": "never"}),
    "text_rnn:padded": ("text_rnn", {}),
    "text_rnn:gru": ("text_rnn", {"cell": "gru", "pack": "always"}),
    "text_rnn:gru-export": ("text_rnn", {"cell": "gru", "pack": "never"}),
    "text_transformer": ("text_transformer", {}),
}


def _padded_forward(net: nn.Module):
    """``text_rnn``'s forward with one ``nn.LSTM`` call on the padded tensor (not padding-safe: for timing)."""

    def forward(ids: torch.Tensor) -> torch.Tensor:
        _, (h, _) = net.rnn(net.embed(ids))
        return net.head(net.dropout(h[-net.directions:].transpose(0, 1).reshape(ids.shape[0], -1)))

    return forward


def batch(args: argparse.Namespace, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, args.vocab, (args.batch, args.length), generator=g)
    n = torch.randint(args.min_length, args.length + 1, (args.batch,), generator=g)
    return ids.masked_fill(torch.arange(args.length) >= n.unsqueeze(1), 0), torch.randint(0, 2, (args.batch,),
                                                                                           generator=g)


def time_steps(case: str, precision: str, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    arch, params = CASES[case]
    net = build_network(ModelSpec(arch=arch, params=params), (args.length,), 2, vocab_size=args.vocab).train()
    forward = net
    if case == "text_rnn:padded":
        forward = _padded_forward(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext())
    batches = [batch(args, seed) for seed in range(4)]
    times = []
    for step in range(args.warmup + args.steps):
        ids, y = batches[step % len(batches)]
        start = time.perf_counter()
        with autocast:
            loss = nn.functional.cross_entropy(forward(ids), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    q1, _, q3 = statistics.quantiles(times, n=4)
    return {"case": case, "precision": precision, "ms_median": 1e3 * statistics.median(times),
            "ms_iqr": [1e3 * q1, 1e3 * q3], "parameters": sum(p.numel() for p in net.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--min-length", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--only", nargs="*", choices=list(CASES), default=list(CASES))
    parser.add_argument("--precision", nargs="*", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch}, length {args.min_length}..{args.length} (uniform), vocab {args.vocab:,}, "
          f"{args.threads} threads, torch {torch.__version__}; per training step, median [IQR] of {args.steps}")
    rows = []
    for case in args.only:
        for precision in args.precision:
            row = time_steps(case, precision, args)
            rows.append(row)
            print(f"  {case:18s} {precision}  {row['ms_median']:8.1f} ms  [{row['ms_iqr'][0]:.1f}, "
                  f"{row['ms_iqr'][1]:.1f}]  {row['parameters']:,} parameters", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
