"""A retrain pipeline promoting a new version while a registry-served model answers traffic: every answer
counted by model version, none may fail. The digits pipeline examples make it quick (about two minutes).

    PYTHONPATH=src .venv/bin/python bench/promotion_under_load.py [--work DIR] [--clients 8] [--json out.json]

1. ``practica pipeline digits_pipeline_first.yaml``: an empty registry, so version 1 is registered and promoted.
2. ``practica serve --registry REG --monitor-db LOG``, N closed-loop clients sending scikit-learn digits.
3. ``practica pipeline digits_pipeline.yaml`` (more data) under that load: the gate's decision, and the server
   following ``production`` when it moves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np
from deployment_demo import Server, Traffic, bodies_of, cli
from registry_swap import wait_ready
from sklearn.datasets import load_digits

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "practica" / "examples"


async def run(args: argparse.Namespace) -> dict:
    args.work.mkdir(parents=True, exist_ok=True)
    registry, runs = args.work / "registry", args.work / "runs"
    env = {**os.environ, "PRACTICA_REGISTRY": str(registry)}
    first = cli("pipeline", str(EXAMPLES / "digits_pipeline_first.yaml"), "--registry", str(registry),
                "--runs-dir", str(runs), "--quiet", env=env)
    images = (np.round(load_digits().images * 255 / 16).astype(np.uint8))[..., None]
    server = Server(["--registry", str(registry), "--monitor-db", str(args.work / "log.db")], env,
                    args.work / "serve.log")
    try:
        await wait_ready(server.url, timeout=120)
        traffic = Traffic(server.url, bodies_of(images[:400]), args.clients, "client")
        traffic.start()
        await asyncio.sleep(3)
        started = time.time()
        second = await asyncio.to_thread(cli, "pipeline", str(EXAMPLES / "digits_pipeline.yaml"), "--registry",
                                         str(registry), "--runs-dir", str(runs), "--quiet", env=env, check=False)
        finished = time.time()
        await asyncio.sleep(5)
        await traffic.stop()
    finally:
        server.stop()
    ok = [a for a in traffic.answers if a["status"] == 200]
    old = ok[0]["version"] if ok else None
    new = [a["t"] for a in ok if a["version"] != old]
    return {
        "first_pipeline": first.stdout.strip().splitlines()[-3:],
        "second_pipeline": {"exit_code": second.returncode, "seconds": round(finished - started, 1),
                            "decision": second.stdout.strip().splitlines()[-4:]},
        "traffic": traffic.summary(),
        "new_version_first_answered_after_pipeline_end_s": round(min(new) - finished, 2) if new else None,
        "old_version_answers_after_first_new":
            sum(a["t"] > min(new) and a["version"] == old for a in ok) if new else None,
        "aliases": json.loads((registry / "registry.json").read_text())["aliases"],
        "server_log": [line for line in (args.work / "serve.log").read_text().splitlines() if "serving" in line][-3:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("promotion-demo"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = asyncio.run(run(args))
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
