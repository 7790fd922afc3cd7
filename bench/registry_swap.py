"""A promotion under load: ``practica serve --registry`` in a subprocess, N closed-loop clients, and
``practica registry promote production 2`` halfway through. Counts every answer by model version and
status; a failed request is anything but a 200 (or a dropped connection).

    .venv/bin/python bench/registry_swap.py BUNDLE_V1 BUNDLE_V2 [--clients 16] [--seconds 10] [--workers 1]
        [--json out.json]

The promotion is ``Registry.promote`` in process (what ``practica registry promote`` calls), so
``first_new_answer_after_s`` counts from the moment the alias moved, not from a command's start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from practica.registry import Registry

PRACTICA = [sys.executable, "-m", "practica"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/v1/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


async def run(args: argparse.Namespace) -> dict:
    reg = Path(tempfile.mkdtemp(prefix="registry-swap-")) / "reg"
    env = {**os.environ, "PRACTICA_REGISTRY": str(reg)}
    subprocess.run([*PRACTICA, "registry", "register", str(args.v1), "--alias", "production"], env=env, check=True,
                   capture_output=True)
    subprocess.run([*PRACTICA, "registry", "register", str(args.v2)], env=env, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*PRACTICA, "serve", "--port", str(port), "--no-access-log",
                               "--workers", str(args.workers)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        await wait_ready(url)
        body = {"inputs": [{"pixels": [[int(v) for v in row] for row in np.eye(8, dtype=np.uint8) * 200]}]}
        results: list[tuple[float, float, int, str, str]] = []  # (start, seconds, status, version, role)
        stop = asyncio.Event()
        t0 = time.perf_counter()

        async def client(i: int) -> None:
            async with httpx.AsyncClient(base_url=url, timeout=10, headers={"X-Client-ID": f"client-{i}"}) as c:
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        r = await c.post("/v1/predict", json=body)
                        version = r.json().get("model_version", "") if r.status_code == 200 else ""
                        results.append((started - t0, time.perf_counter() - started, r.status_code, version,
                                        r.headers.get("x-model-role", "")))
                    except httpx.TransportError as err:
                        results.append((started - t0, time.perf_counter() - started, 0, type(err).__name__, ""))

        tasks = [asyncio.create_task(client(i)) for i in range(args.clients)]
        await asyncio.sleep(args.seconds / 2)
        await asyncio.to_thread(Registry(reg).promote, "production", 2, reason="bench/registry_swap.py")
        promoted_at = time.perf_counter() - t0
        await asyncio.sleep(args.seconds / 2)
        stop.set()
        await asyncio.gather(*tasks)
        async with httpx.AsyncClient() as c:
            health = (await c.get(f"{url}/v1/health")).json()
    finally:
        server.terminate()
        log = server.communicate(timeout=20)[0]
    latencies = np.array([s for _, s, *_ in results]) * 1000
    new = [start for start, _, status, version, _ in results if status == 200 and version != results[0][3]]
    near = [s * 1000 for start, s, *_ in results if promoted_at <= start <= promoted_at + 2]
    return {
        "requests": len(results), "clients": args.clients, "seconds": args.seconds, "workers": args.workers,
        "failed": sum(status != 200 for _, _, status, _, _ in results),
        "statuses": dict(Counter(str(status) for _, _, status, _, _ in results)),
        "by_version_and_role": dict(Counter(f"{v} ({role})" for _, _, status, v, role in results if status == 200)),
        "promoted_at_s": round(promoted_at, 2),
        "first_new_answer_after_s": round(min(new) - promoted_at, 2) if new else None,
        # requests sent after the first new answer that the old version still answered (in flight, or a worker
        # that had not polled yet)
        "old_answers_after_first_new": sum(start > min(new) and version == results[0][3]
                                           for start, _, status, version, _ in results) if new else None,
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "max_ms_within_2s_of_promote": round(max(near), 2) if near else None,
        "health_after": health,
        "server_log": [line for line in log.splitlines() if "serving" in line or "swapped" in line][-5:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("v1", type=Path)
    parser.add_argument("v2", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = asyncio.run(run(args))
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
