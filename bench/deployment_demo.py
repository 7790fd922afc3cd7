"""After deployment, end to end, as an operator would run it (issue 13): every step is a real command.

1. ``practica registry register V1 --alias production``; ``practica serve --registry REG --monitor-db LOG``.
2. Held-in traffic (N closed-loop clients, the data set's own test images): counts, OOD flags, /v1/monitor quiet.
3. Shifted traffic (inverted images, then another data set's): the OOD flags in the answers and the drift alarm.
4. ``practica pipeline PIPELINE.yaml`` on more data, while clients keep sending held-in images: the gate's
   decision, the promotion, and the running server switching to the new version, with every request counted.
5. A canary (``practica serve --registry REG --canary VERSION:FRACTION --canary-max-p95-ms MS``) that is too
   slow for the latency limit: rolled back automatically, no client request failed.

    PYTHONPATH=src .venv/bin/python bench/deployment_demo.py --v1 BUNDLE --pipeline PIPELINE.yaml \\
        --canary-bundle SLOW_BUNDLE [--work DIR] [--clients 32] [--json out.json]

Requests are JSON ``{"inputs": [{"pixels": ...}]}``, one image each, through httpx clients that keep their
connection; every answer is recorded (time, status, model version, role, OOD flag), so the counts below are
of real responses. The numbers are counts and shares, not a throughput benchmark (bench/serve_load.py is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from ood_shift import CIFAR_TEST, FASHION_TEST, held_in, other_data_set
from registry_swap import free_port, wait_ready

from practica.bundle import load_bundle

PRACTICA = [sys.executable, "-m", "practica"]


class _Skip(Exception):
    """A phase not asked for (--phases)."""


class Traffic:
    """Closed-loop clients sending one image per request until stopped; every answer recorded."""

    def __init__(self, url: str, bodies: list[bytes], clients: int, name: str) -> None:
        self.url, self.bodies, self.clients, self.name = url, bodies, clients, name
        self.answers: list[dict] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self, limit: int | None = None) -> None:
        self._limit = limit
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def wait_for(self, requests: int) -> None:
        while len(self.answers) < requests:
            await asyncio.sleep(0.05)
        await self.stop()

    async def _client(self, i: int) -> None:
        headers = {"content-type": "application/json", "x-client-id": f"{self.name}-{i}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=headers) as client:
            k = i
            while not self._stop.is_set():
                t0 = time.time()
                try:
                    r = await client.post("/v1/predict", content=self.bodies[k % len(self.bodies)])
                    body = r.json() if r.status_code == 200 else {}
                    prediction = (body.get("predictions") or [{}])[0]
                    self.answers.append({"t": t0, "status": r.status_code, "version": body.get("model_version"),
                                         "role": r.headers.get("x-model-role"),
                                         "ood": (prediction.get("ood") or {}).get("flag"),
                                         "ms": (time.time() - t0) * 1000})
                except httpx.TransportError as err:
                    self.answers.append({"t": t0, "status": 0, "error": type(err).__name__, "ms": 0.0})
                k += self.clients

    def summary(self) -> dict:
        a = self.answers
        ok = [x for x in a if x["status"] == 200]
        flags = [x["ood"] for x in ok if x.get("ood") is not None]
        return {"requests": len(a), "failed": len(a) - len(ok),
                "statuses": dict(Counter(str(x["status"]) for x in a)),
                "by_version": dict(Counter(x["version"] for x in ok)),
                "by_role": dict(Counter(x["role"] for x in ok)),
                "ood_flagged": f"{sum(flags)} of {len(flags)} ({100 * sum(flags) / max(1, len(flags)):.1f}%)",
                "p50_ms": round(float(np.percentile([x["ms"] for x in ok], 50)), 1) if ok else None}


def bodies_of(images: np.ndarray) -> list[bytes]:
    return [json.dumps({"inputs": [{"pixels": im.tolist()}]}).encode() for im in images]


def cli(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*PRACTICA, *args], env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"practica {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


class Server:
    def __init__(self, args: list[str], env: dict, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen([*PRACTICA, "serve", "--port", str(self.port), "--no-access-log", *args],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


async def monitor(url: str) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        snap = (await client.get("/v1/monitor")).json()
    report = snap["report"]
    return {"window_rows": report["rows"], "alerts": snap["alerts"],
            "sentences": [c["sentence"] for c in report["checks"] if c["alert"]]}


async def run(args: argparse.Namespace) -> dict:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    registry = work / "registry"
    env = {**os.environ, "PRACTICA_REGISTRY": str(registry)}
    out: dict = {}
    v1 = load_bundle(args.v1)
    rng = np.random.default_rng(0)
    x, _ = held_in(args.test, v1.classes, v1.input.shape, args.images, rng)
    normal = bodies_of(x)
    inverted = bodies_of(255 - x)
    other = bodies_of(other_data_set(args.other, v1.input.shape, args.images))

    cli("registry", "register", str(args.v1), "--alias", "production", "--note", "version 1", env=env)
    log_db = work / "predictions.db"
    server = Server(["--registry", str(registry), "--monitor-db", str(log_db), "--monitor-window", "500"], env,
                    work / "serve.log")
    try:
        await wait_ready(server.url, timeout=120)
        # 2. held-in traffic
        if "traffic" not in args.phases:
            raise _Skip
        held = Traffic(server.url, normal, args.clients, "held-in")
        held.start()
        await asyncio.sleep(args.seconds)
        await held.stop()
        out["held_in"] = {**held.summary(), "monitor": await monitor(server.url)}
        print("held-in:", json.dumps(out["held_in"]), flush=True)
        # 3. shifted traffic: the window (500) fills with it
        for name, bodies in (("inverted", inverted), ("fashion_mnist", other)):
            shifted = Traffic(server.url, bodies, args.clients, name)
            shifted.start()
            await shifted.wait_for(args.shifted_requests)
            out[name] = {**shifted.summary(), "monitor": await monitor(server.url)}
            print(f"{name}:", json.dumps(out[name]), flush=True)
    except _Skip:
        pass
    except BaseException:
        server.stop()
        raise
    try:
        # 4. the retrain pipeline, while held-in traffic goes on
        if "pipeline" not in args.phases:
            raise _Skip
        background = Traffic(server.url, normal, args.pipeline_clients, "during-pipeline")
        background.start()
        started = time.time()
        pipeline = await asyncio.to_thread(cli, "pipeline", str(args.pipeline), "--registry", str(registry),
                                           "--quiet", env=env, check=False)
        finished = time.time()
        await asyncio.sleep(args.seconds)  # the watcher polls every second; then some more traffic on the new one
        await background.stop()
        versions = [a for a in background.answers if a["status"] == 200]
        first_version = versions[0]["version"] if versions else None
        switched = [a["t"] for a in versions if a["version"] != first_version]
        out["pipeline"] = {
            "exit_code": pipeline.returncode, "seconds": round(finished - started, 1),
            "output": pipeline.stdout.strip().splitlines()[-12:],
            "traffic": background.summary(),
            "new_version_first_answered_after_s": round(min(switched) - finished, 2) if switched else None,
            "aliases": json.loads((registry / "registry.json").read_text())["aliases"],
        }
        print("pipeline:", json.dumps(out["pipeline"], default=str), flush=True)
    except _Skip:
        pass
    finally:
        server.stop()
    if "canary" not in args.phases:
        return out
    # 5. the canary: a slow challenger, rolled back automatically
    cli("registry", "register", str(args.canary_bundle), "--alias", "canary", "--note", "slow challenger", env=env)
    canary = Server(["--registry", str(registry), "--canary", f"canary:{args.canary_fraction}",
                     "--canary-max-p95-ms", str(args.canary_max_p95_ms), "--monitor-db", str(log_db)], env,
                    work / "serve-canary.log")
    try:
        await wait_ready(canary.url, timeout=120)
        traffic = Traffic(canary.url, normal, args.clients, "canary-phase")
        traffic.start()
        await asyncio.sleep(args.seconds)
        await traffic.stop()
        async with httpx.AsyncClient(base_url=canary.url) as client:
            health = (await client.get("/v1/health")).json()
        history = [json.loads(line) for line in (registry / "history.jsonl").read_text().splitlines()]
        rolled = [a["t"] for a in traffic.answers if a.get("role") == "canary"]
        out["canary"] = {**traffic.summary(), "health": health,
                         "canary_answers_before_rollback": len(rolled),
                         "registry_events": [e for e in history if e["event"] in ("canary_rollback", "rollback")]}
        print("canary:", json.dumps(out["canary"], default=str), flush=True)
    finally:
        canary.stop()
    out["canary_log_tail"] = (work / "serve-canary.log").read_text().splitlines()[-8:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--v1", type=Path, required=True, help="the bundle registered as version 1 (production)")
    ap.add_argument("--pipeline", type=Path, required=True, help="a retrain pipeline file (practica pipeline)")
    ap.add_argument("--canary-bundle", type=Path, required=True, help="a challenger for the canary phase")
    ap.add_argument("--work", type=Path, default=Path("deploy-demo"))
    ap.add_argument("--test", type=Path, default=CIFAR_TEST)
    ap.add_argument("--other", type=Path, default=FASHION_TEST)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--pipeline-clients", type=int, default=4, help="clients while the pipeline trains")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--shifted-requests", type=int, default=600)
    ap.add_argument("--canary-fraction", type=float, default=0.25)
    ap.add_argument("--canary-max-p95-ms", type=float, default=25.0)
    ap.add_argument("--phases", nargs="+", choices=("traffic", "pipeline", "canary"),
                    default=["traffic", "pipeline", "canary"], help="held-in and shifted traffic, the retrain "
                    "pipeline under load, the canary (default: all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
