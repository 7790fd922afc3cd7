"""Text serving under load: practica's micro-batched server vs a naive ONNX endpoint vs the HTTP floor.

For a text bundle (one that ``practica run src/practica/examples/text.yaml`` writes), measured in
the same run, each server in its own subprocess, one at a time:

  practica  POST /v1/predict on ``practica serve BUNDLE --bench-routes --workers N`` (tokenizer in front,
            micro-batched ONNX Runtime)
  no-op     POST /v1/noop on the same server: parses the same body, answers a constant (HTTP floor)
  naive     POST /v1/predict on bench/text_naive_server.py: FastAPI + pydantic, the bundle's tokenizer and
            ONNX model on one text per request; one process
  naive-w   the same naive server in N worker processes, one ONNX Runtime thread each (practica's layout)

at 1, 8 and 32 concurrent closed-loop clients (keep-alive HTTP/1.1 on loopback, bench/loadgen.py),
each request one sentence of the shipped example's test texts as ``{"text": "..."}``, the same
bodies for every server. Prints requests/s, p50/p99 latency and errors per cell, then the ratios
at 32 clients: practica/naive (target ≥ 2×), practica/no-op rate (≥ 0.5×).

    .venv/bin/python bench/text_serve.py --bundle runs/text/RUN_ID/bundle [--concurrency 1 8 32]
        [--seconds 10] [--warmup 3] [--servers practica naive] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
from pathlib import Path

from serve_load import HOST, Server, free_port, machine_info, measure, practica_cmd, sample_answers

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "src" / "practica" / "examples" / "sotu_sentences.csv"
JUDGED_AT = 32
TARGET_VS_NAIVE = 2.0
TARGET_VS_NOOP = 0.5


def text_bodies(n: int, form: str) -> list[bytes]:
    """``n`` sentences of the shipped example, spread over the file (and so over the periods), as JSON bodies."""
    with TEXTS.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    picked = texts[:: max(1, len(texts) // n)][:n]
    shape = (lambda t: {"text": t}) if form == "text" else (lambda t: {"inputs": [{"text": t}]})
    return [json.dumps(shape(t), separators=(",", ":")).encode() for t in picked]


def servers_for(bundle: Path, args) -> list[tuple[str, str, Server]]:
    """(label, route, server) for every cell kind; practica's no-op route shares its server."""
    out = []
    if "practica" in args.servers:
        port = free_port()
        cmd = practica_cmd() + ["serve", str(bundle), "--host", HOST, "--port", str(port), "--bench-routes",
                                "--workers", str(args.workers), "--no-access-log", *shlex.split(args.practica_args)]
        out.append(("practica", "/v1/predict", Server("practica", cmd, port)))
    if "naive" in args.servers:
        for kind, layout in (("naive", ["--threads", str(args.threads)]),
                             ("naive-w", ["--workers", str(args.workers), "--threads", "1"])):
            if kind == "naive-w" and args.workers == 1:
                continue
            port = free_port()
            cmd = [sys.executable, str(ROOT / "bench" / "text_naive_server.py"), "--bundle", str(bundle),
                   "--host", HOST, "--port", str(port), *layout]
            out.append((kind, "/v1/predict", Server(kind, cmd, port)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--bundle", type=Path, required=True, help="a text bundle folder (with tokenizer.json)")
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, JUDGED_AT])
    ap.add_argument("--seconds", type=float, default=10.0, help="recorded seconds per cell")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each cell")
    ap.add_argument("--texts", type=int, default=256, help="different sentences, rotated")
    ap.add_argument("--body", choices=("text", "inputs"), default="text",
                    help='request body: {"text": ...} (default) or {"inputs": [{"text": ...}]}')
    ap.add_argument("--servers", nargs="+", choices=("practica", "naive"), default=["practica", "naive"])
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="the naive server's ORT threads")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ap.add_argument("--workers", type=int, default=usable, help="processes of practica serve and naive-w")
    ap.add_argument("--practica-args", default="", help="extra options for practica serve")
    ap.add_argument("--timeout", type=float, default=30.0, help="a request slower than this is an error (s)")
    ap.add_argument("--start-timeout", type=float, default=120.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (args.bundle / "tokenizer.json").is_file():
        sys.exit(f"{args.bundle} is not a text bundle (no tokenizer.json); make one with "
                 "`practica run src/practica/examples/text.yaml` (it writes runs/text/RUN_ID/bundle)")
    bodies = text_bodies(args.texts, args.body)
    machine = machine_info()
    print(f"Machine: {machine['cpu']}, {machine['cores']} cores; onnxruntime {machine['onnxruntime']}; "
          f"load avg {os.getloadavg()[0]:.2f}", file=sys.stderr)
    cells: list[dict] = []
    answers: dict[str, dict] = {}
    for label, route, server in servers_for(args.bundle, args):
        print(f"  starting {label}: {shlex.join(server.cmd)}", file=sys.stderr, flush=True)
        server.start(args.start_timeout)
        try:
            answers[label] = sample_answers(server, route, bodies)
            for c in args.concurrency:
                if label == "practica":  # the floor and the predictions back to back, so drift hits both alike
                    cells.append(measure(server, "no-op", "/v1/noop", bodies, c, args))
                cells.append(measure(server, label, route, bodies, c, args))
        finally:
            server.stop()

    by = {(c["server"], c["concurrency"]): c for c in cells}
    mean_bytes = sum(map(len, bodies)) / len(bodies)
    print(f"\n{args.bundle}: {len(bodies)} sentences as {args.body!r} bodies (~{mean_bytes:.0f} B), "
          f"{args.seconds:g} s per cell after {args.warmup:g} s warm-up; practica serve --workers {args.workers}; "
          f"load avg now {os.getloadavg()[0]:.2f} on {machine['cores']} cores")
    print(f"  {'server':<9} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for c in sorted(cells, key=lambda c: (c["server"], c["concurrency"])):
        print(f"  {c['server']:<9} {c['concurrency']:>7} {c['rate']:>9.0f} {c['p50_ms']:>8.2f} {c['p99_ms']:>8.2f} "
              f"{c['errors']:>7}")
    ratios = {}
    for conc in args.concurrency:
        p = by.get(("practica", conc))
        for other, target in (("naive", TARGET_VS_NAIVE), ("naive-w", TARGET_VS_NAIVE), ("no-op", TARGET_VS_NOOP)):
            o = by.get((other, conc))
            if p and o and o["rate"]:
                value = p["rate"] / o["rate"]
                ratios[f"practica/{other}@{conc}"] = value
                verdict = "met" if value >= target else "MISSED"
                judged = f" (target ≥ {target:g}×) {verdict}" if conc == JUDGED_AT else ""
                print(f"  practica/{other:<8} at {conc:>2} clients: {value:.2f}×{judged}")
    if "practica" in answers and "naive" in answers:
        a, b = answers["practica"]["top1"], answers["naive"]["top1"]
        print(f"  top-1 agreement practica vs naive on {len(a)} texts: "
              f"{sum(x == y and x is not None for x, y in zip(a, b, strict=True)) / len(a):.0%}")
        print(f"  practica's answer: {answers['practica']['example'][:200]}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "settings": {k: str(v) for k, v in vars(args).items()},
                                         "cells": cells, "ratios": ratios, "answers": answers}, indent=2, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
