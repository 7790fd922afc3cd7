"""Load test: practica's micro-batched ONNX server vs a naive PyTorch endpoint vs the HTTP floor.

For each model (default: the small CNN and ResNet-20 bundles of a CIFAR-10 run), these are
measured in the same run, each server in its own subprocess, one at a time:

  practica  POST /v1/predict on ``practica serve BUNDLE --bench-routes --workers N`` (micro-batched ONNX Runtime)
  no-op     POST /v1/noop on the same server: parses the same body, answers a constant (HTTP floor)
  naive     POST /v1/predict on bench/naive_server.py (FastAPI + PyTorch, one image per call), one process
  naive-w   the same naive server in N worker processes, one torch thread each (practica's layout)
  +log      with --monitor: practica again, recording every prediction (``--monitor-db``, a fresh file),
            to measure what the prediction log costs (target: at most 10% of the rate at 32 clients)

at 1, 8 and 32 concurrent closed-loop clients (keep-alive HTTP/1.1 on loopback, see
bench/loadgen.py) sending single-image requests: real CIFAR-10 test images as base64 PNG, the
same request bodies for every server. Prints requests/s, p50/p99 latency and errors per cell,
then the ratios against their targets; ``--json`` writes everything.

Before the servers start, the parts of a prediction are timed alone on the same bundle and bodies
(bench/serve_parts.py: the image's decoding, the model call at batch sizes 1 to 64); with the no-op
route's CPU per request, the batch sizes practica's workers reached (their /metrics) and the
generator's own CPU per request, they set the ceiling at 32 clients, cores / (no-op + decode +
model + generator) requests/s, and practica's rate is printed as a share of it (target ≥ 0.8).

    .venv/bin/python bench/serve_bundles.py --out /tmp/bundles    # the two default bundles, ~3 min
    .venv/bin/python bench/serve_load.py [--bundles small-cnn=PATH resnet20=PATH]
        [--concurrency 1 8 32] [--seconds 10] [--warmup 3] [--json out.json]
        [--monitor] [--images-from cifar10|digits] [--parts-repeats 5]

The prediction log's cost on the digits model (8×8 images; sklearn's digits as request bodies):

    .venv/bin/python bench/serve_load.py --bundles digits=runs/digits/RUN_ID/bundle --images-from digits \
        --servers practica --monitor --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
import serve_parts
from serve_bundles import checkout_env, practica_cmd

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_BUNDLES = ["small-cnn=/tmp/bundles/small-cnn", "resnet20=/tmp/bundles/resnet20"]
IMAGES = ROOT / "data" / "cifar10-jpeg" / "test"

# The targets, judged at 32 clients. practica/naive depends on the model (the bigger the model,
# the more batching pays); unknown model names get no rate-vs-naive target.
TARGET_VS_NAIVE = {"small-cnn": 3.0, "resnet20": 4.0}
TARGET_VS_NOOP_RATE = 0.75  # practica's rate ≥ 75% of its own no-op route's
TARGET_P99_VS_NOOP = 2.0  # practica's p99 ≤ 2× the no-op route's p99
TARGET_LOG_VS_PLAIN = 0.9  # recording every prediction costs at most 10% of practica's rate
TARGET_VS_CEILING = 0.8  # practica's rate ≥ 80% of what its measured parts allow on these cores (serve_parts.py)
JUDGED_AT = 32
NAIVE_KINDS = ("naive", "naive-w")
LOGGED = "+log"
SERVER_ORDER = ("practica", LOGGED, "no-op", *NAIVE_KINDS)


# --------------------------------------------------------------------------------------------
# Machine, inputs
# --------------------------------------------------------------------------------------------
def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("onnxruntime", "torch", "fastapi", "uvicorn", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):  # say so rather than fail the benchmark
            versions[mod] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable_cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loop": loadgen.loop_name(),
        **versions,
    }


def load_bodies(n: int) -> list[bytes]:
    """``n`` CIFAR-10 test images spread over the classes, re-encoded as PNG, as request bodies."""
    from PIL import Image

    files = sorted(IMAGES.glob("*/*.jpg"))
    if not files:
        sys.exit(f"no CIFAR-10 test images under {IMAGES}; the benchmark sends real ones")
    step = max(1, len(files) // n)
    picked = files[::step][:n]
    # Interleave the classes so consecutive requests are of different classes.
    picked.sort(key=lambda p: (int(p.stem), p.parent.name))
    bodies = []
    for path in picked:
        buf = io.BytesIO()
        with Image.open(path) as img:
            img.convert("RGB").save(buf, format="PNG")
        b64 = base64.b64encode(buf.getvalue()).decode("ascii")
        bodies.append(json.dumps({"inputs": [{"image": b64}]}, separators=(",", ":")).encode())
    return bodies


def digits_bodies(n: int) -> list[bytes]:
    """``n`` of scikit-learn's 8×8 digits (scaled to 0–255) as PNG request bodies, for a digits bundle."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    images = np.round(load_digits().images * 255 / 16).astype(np.uint8)
    bodies = []
    for image in images[np.linspace(0, len(images) - 1, n).astype(int)]:
        buf = io.BytesIO()
        Image.fromarray(image, mode="L").save(buf, format="PNG")
        b64 = base64.b64encode(buf.getvalue()).decode("ascii")
        bodies.append(json.dumps({"inputs": [{"image": b64}]}, separators=(",", ":")).encode())
    return bodies


def parse_bundles(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            sys.exit(f"--bundles takes NAME=PATH items (e.g. small-cnn=/tmp/bundles/small-cnn), not {item!r}")
        out[name] = Path(path)
    missing = [(n, p) for n, p in out.items() if not (p / "manifest.json").is_file()]
    if missing:
        runs = sorted((ROOT / "runs" / "cifar10").glob("*/"))
        run = str(runs[-1].relative_to(ROOT)) if runs else "runs/cifar10/RUN_ID"
        lines = [f"no bundle at {p} (no manifest.json there)" for _, p in missing]
        lines.append("Make the small CNN and ResNet-20 bundles from the CIFAR-10 images, briefly trained (~3 min; "
                     "serving speed does not depend on the weights' quality):")
        lines.append(f"  cd {ROOT} && .venv/bin/python bench/serve_bundles.py --out /tmp/bundles")
        lines.append("or export them from a finished CIFAR-10 case-study run:")
        lines += [f"  cd {ROOT} && .venv/bin/practica export {run} --experiment {n} --out {p}" for n, p in missing]
        sys.exit("\n".join(lines))
    return out


# --------------------------------------------------------------------------------------------
# Servers in subprocesses
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def start(self, timeout_s: float) -> None:
        fd, log = tempfile.mkstemp(prefix=f"serve-load-{self.name}-", suffix=".log")
        self.log = Path(log)
        with os.fdopen(fd, "wb") as f:
            # A session of its own: stopping it reaches every worker it forks, and nothing else.
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=checkout_env())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with code {self.proc.returncode} before it was "
                                   f"ready:\n$ {shlex.join(self.cmd)}\n{self.tail()}")
            try:
                status, _ = asyncio.run(loadgen.http_get(HOST, self.port, "/v1/health"))
                if status == 200:
                    return
            except (OSError, TimeoutError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"{self.name} server not ready within {timeout_s:g} s:\n$ {shlex.join(self.cmd)}\n{self.tail()}"
        )

    def tail(self, n: int = 30) -> str:
        if self.log is None:
            return ""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------------------------
# CPU accounting: the server's process tree, the whole machine (to see other load)
# --------------------------------------------------------------------------------------------
CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(path: str) -> list[bytes] | None:
    """The fields of a /proc stat file after the command name (fields[0] is field 3, state), or None if gone."""
    try:
        stat = Path(path).read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def _cpu_s(fields: list[bytes]) -> float:
    return (int(fields[11]) + int(fields[12])) / CLK  # utime (field 14) + stime (field 15)


def session_cpu_s(sid: int) -> dict[int, float]:
    """user+system CPU seconds of every live process in session ``sid`` (the server and its workers), by pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        fields = _stat(f"/proc/{d}/stat")
        if fields is not None and int(fields[3]) == sid:  # session: field 6
            out[int(d)] = _cpu_s(fields)
    return out


def main_threads_cpu_s(pids: list[int]) -> dict[int, float]:
    """user+system CPU seconds of each process's main thread (a server worker's event loop), by pid; the rest
    of a process's CPU is its other threads' (the model thread, ONNX Runtime's, a decoding pool's)."""
    out = {}
    for pid in pids:
        fields = _stat(f"/proc/{pid}/task/{pid}/stat")
        if fields is not None:
            out[pid] = _cpu_s(fields)
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK, steal / CLK


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------
def percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile in milliseconds."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, int(-(-q * len(sorted_ns) // 100)) - 1))
    return sorted_ns[k] / 1e6


def measure(server: Server, label: str, route: str, bodies: list[bytes], concurrency: int, args) -> dict:
    requests = loadgen.build_requests(HOST, server.port, route, bodies)
    marks: dict[str, tuple] = {}
    assert server.proc is not None, "measure a started server"
    pid = server.proc.pid

    def on_record(start: bool) -> None:
        procs = session_cpu_s(pid)
        marks["start" if start else "stop"] = (procs, *machine_cpu(), main_threads_cpu_s(list(procs)))

    loop = loadgen.new_event_loop()
    try:
        stats = loop.run_until_complete(loadgen.measure_cell(
            HOST, server.port, requests, concurrency, args.warmup, args.seconds, args.timeout, on_record,
            getattr(args, "ramp", 0.0)))  # text_serve.py's options have no --ramp
    finally:
        loop.close()
    lat = sorted(stats.latencies_ns)
    n = len(lat)
    wall = stats.recorded_s
    by_pid = {pid: cpu - marks["start"][0].get(pid, 0.0) for pid, cpu in marks["stop"][0].items()}
    srv_cpu = sum(by_pid.values())
    loops_cpu = sum(cpu - marks["start"][3].get(p, 0.0) for p, cpu in marks["stop"][3].items())
    busy = marks["stop"][1] - marks["start"][1]
    steal = marks["stop"][2] - marks["start"][2]
    cores = usable_cores()
    cell = {
        "server": label, "route": route, "concurrency": concurrency, "port": server.port,
        "requests": n, "seconds": round(wall, 3), "rate": n / wall if wall else 0.0,
        "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90), "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] / 1e6 if lat else float("nan"),
        "mean_ms": sum(lat) / n / 1e6 if n else float("nan"),
        "errors": stats.errors, "errors_http": stats.errors_http, "errors_conn": stats.errors_conn,
        "errors_timeout": stats.errors_timeout, "errors_outside_window": stats.outside_errors,
        "statuses": {str(k): v for k, v in stats.status_counts.items()}, "first_error": stats.first_error,
        # CPU while recording: the generator's own, the server's process tree, everything else.
        "gen_cpu_us_per_req": stats.gen_cpu_s / n * 1e6 if n else None,
        "gen_cpu_pct_of_machine": 100 * stats.gen_cpu_s / (wall * cores) if wall else None,
        "server_cpu_us_per_req": srv_cpu / n * 1e6 if n else None,
        # of which the processes' main threads (the workers' event loops: HTTP, parsing, decoding, the answer),
        # and the rest (their other threads: the model thread, ONNX Runtime's)
        "server_loop_cpu_us_per_req": loops_cpu / n * 1e6 if n else None,
        "server_threads_cpu_us_per_req": (srv_cpu - loops_cpu) / n * 1e6 if n else None,
        "server_cpu_pct_of_machine": 100 * srv_cpu / (wall * cores) if wall else None,
        # cores each of the server's processes kept busy, busiest first: workers sharing the connections
        # unevenly show here (one near 1, the other well below)
        "server_cores_by_process": sorted((round(c / wall, 2) for c in by_pid.values() if c / wall >= 0.01),
                                          reverse=True) if wall else [],
        "other_cpu_pct_of_machine": 100 * max(0.0, busy - srv_cpu - stats.gen_cpu_s) / (wall * cores) if wall else None,
        "steal_pct": 100 * steal / (wall * cores) if wall else None,
    }
    print(f"  {label:<9} c={concurrency:<3} {cell['rate']:8.0f} req/s  p50 {cell['p50_ms']:7.2f} ms  "
          f"p99 {cell['p99_ms']:7.2f} ms  errors {cell['errors']}"
          + (f" (+{stats.outside_errors} outside window)" if stats.outside_errors else "")
          + f"  | CPU µs/req: gen {_f(cell['gen_cpu_us_per_req'])}, server {_f(cell['server_cpu_us_per_req'])} "
          f"(event loops {_f(cell['server_loop_cpu_us_per_req'])} + other threads "
          f"{_f(cell['server_threads_cpu_us_per_req'])}; "
          f"cores by process {'/'.join(map(str, cell['server_cores_by_process']))}); "
          f"other load {_f(cell['other_cpu_pct_of_machine'])}%, steal {_f(cell['steal_pct'])}%",
          file=sys.stderr, flush=True)
    if stats.first_error:
        print(f"    first error: {stats.first_error}", file=sys.stderr, flush=True)
    return cell


def _f(x, fmt: str = ".0f") -> str:
    return "—" if x is None else format(x, fmt)


def top1(body: bytes) -> str | None:
    """The first 'label' in a prediction answer, whatever its exact layout."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    stack = [doc]
    while stack:
        x = stack.pop(0)
        if isinstance(x, dict):
            if isinstance(x.get("label"), str):
                return x["label"]
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return None


def sample_answers(server: Server, route: str, bodies: list[bytes], n: int = 20) -> dict:
    """Send the first ``n`` bodies one at a time: status, one answer, top-1 labels."""
    reqs = loadgen.build_requests(HOST, server.port, route, bodies[:n])

    async def go():
        return [await loadgen.http_post(HOST, server.port, r) for r in reqs]

    answers = asyncio.run(go())
    bad = [(s, b[:300]) for s, b in answers if s != 200]
    if bad:
        raise RuntimeError(f"{server.name} {route} answered {bad[0][0]}: {bad[0][1]!r}")
    return {"example": answers[0][1].decode(errors="replace")[:400], "top1": [top1(b) for _, b in answers]}


def worker_batches(server: Server, workers: int, tries: int = 40) -> set[tuple[float, float, float]]:
    """Each worker's model-call counters so far (``serve_parts.batch_counters``): a GET /metrics is answered
    by whichever worker accepts its connection, so ask on fresh connections until every worker has answered."""
    seen: set[tuple[float, float, float]] = set()
    for _ in range(tries):
        status, body = asyncio.run(loadgen.http_get(HOST, server.port, "/metrics", timeout_s=10.0))
        if status == 200:
            seen.add(serve_parts.batch_counters(body))
        if len(seen) >= workers:
            break
    return seen


def measure_predictions(server: Server, label: str, bodies: list[bytes], concurrency: int, args) -> dict:
    """A /v1/predict cell of practica's server, with the batch sizes its workers reached meanwhile (warm-up
    included): their /metrics read before and after."""
    before = worker_batches(server, args.workers)
    cell = measure(server, label, "/v1/predict", bodies, concurrency, args)
    cell["batches"] = serve_parts.batch_delta(before, worker_batches(server, args.workers), args.workers)
    b = cell["batches"]
    said = (f"mean {b['mean_batch']:.1f} inputs per model call" if b and b["mean_batch"]
            else "not read from every worker")
    print(f"    batches: {said}", file=sys.stderr, flush=True)
    return cell


def run_model(name: str, bundle: Path, bodies: list[bytes], args) -> dict:
    print(f"\n== {name}: {bundle}", file=sys.stderr, flush=True)
    parts = None
    if "practica" in args.servers:  # timed before any server starts, in as many processes as it has workers
        parts = serve_parts.measure(bundle, bodies, args.workers, args.parts_repeats)
        print(f"  parts, CPU µs per image ({parts['processes']} processes at once, ONNX Runtime on "
              f"{parts['threads']} thread(s) each): decode {parts['decode_us_per_image']:.0f}; model call (ORT"
              f"{' + OOD score' if parts['ood'] else ''}) per image at batch "
              + ", ".join(f"{b}: {us / b:.0f}" for b, us in parts["model_us_per_call"].items()),
              file=sys.stderr, flush=True)
    threads = args.threads
    cells: list[dict] = []
    notes: dict = {}
    servers = []
    logged: Server | None = None  # practica recording predictions: up beside practica, measured in turn with it
    if "practica" in args.servers:
        port = free_port()
        cmd = practica_cmd() + ["serve", str(bundle), "--host", HOST, "--port", str(port), "--bench-routes",
                                "--workers", str(args.workers),
                                "--access-log" if args.access_log else "--no-access-log",
                                *shlex.split(args.practica_args)]
        servers.append(("practica", Server("practica", cmd, port)))
        if args.monitor:  # the same server, recording every prediction in a fresh log file
            log_db = Path(tempfile.mkdtemp(prefix="serve-load-log-")) / "predictions.db"
            port = free_port()
            logged_cmd = [*cmd[:cmd.index("--port") + 1], str(port), *cmd[cmd.index("--port") + 2:],
                          "--monitor-db", str(log_db)]
            logged = Server(LOGGED, logged_cmd, port)
            notes["log_db"] = str(log_db)
    if "naive" in args.servers:
        # Two naive servers: one process (what a practitioner writes first), and the same code in
        # as many worker processes as practica gets, one torch thread each: the fair comparison.
        for kind, layout in (("naive", ["--threads", str(threads)]),
                             ("naive-w", ["--workers", str(args.workers), "--threads", "1"])):
            if kind == "naive-w" and args.workers == 1:
                continue
            port = free_port()
            cmd = [sys.executable, str(ROOT / "bench" / "naive_server.py"), "--bundle", str(bundle), "--host", HOST,
                   "--port", str(port), *layout, *(["--access-log"] if args.access_log else []),
                   *shlex.split(args.naive_args)]
            servers.append((kind, Server(kind, cmd, port)))
    for kind, server in servers:
        pair = [server, logged] if kind == "practica" and logged is not None else [server]
        for s in pair:
            print(f"  starting {s.name}: {shlex.join(s.cmd)}", file=sys.stderr, flush=True)
            s.start(args.start_timeout)
        try:
            for s in pair:
                notes[s.name] = {"command": shlex.join(s.cmd), **sample_answers(s, "/v1/predict", bodies)}
            if kind == "practica":
                sample_answers(server, "/v1/noop", bodies, 2)
            for c in args.concurrency:
                if kind == "practica":  # floor and predictions back to back, so drift hits both alike
                    cells.append(measure(server, "no-op", "/v1/noop", bodies, c, args))
                    # with and without the log in turn, --repeats times, so that other load on the machine hits both
                    # alike
                    for i in range(args.repeats if len(pair) > 1 else 1):
                        for s in (pair if i % 2 == 0 else pair[::-1]):  # ABBA: neither always goes first
                            cells.append(measure_predictions(s, s.name, bodies, c, args))
                else:
                    cells.append(measure(server, kind, "/v1/predict", bodies, c, args))
            if len(pair) > 1:
                notes[LOGGED]["monitor"] = logged_rows(pair[1])
        finally:
            for s in pair:
                s.stop()
        for s in pair:
            if any(c["errors"] or c["errors_outside_window"] for c in cells if c["port"] == s.port):
                print(f"  {s.name} answered with errors; the end of its log ({s.log}):\n{s.tail()}",
                      file=sys.stderr, flush=True)
            elif s.log is not None:
                s.log.unlink(missing_ok=True)
    agree = None
    if "practica" in notes and "naive" in notes:
        a, b = notes["practica"]["top1"], notes["naive"]["top1"]
        agree = sum(x == y and x is not None for x, y in zip(a, b, strict=True)) / len(a)
    by = pooled(cells)
    return {"bundle": str(bundle), "cells": cells, "servers": notes, "top1_agreement_practica_naive": agree,
            "parts": parts, "ratios": ratios(name, cells, by, args.concurrency),
            "ceiling": None if parts is None else ceiling(by, parts)}


def logged_rows(server: Server) -> dict:
    """What the logging server says of its log (GET /v1/monitor): rows kept, and rows dropped by the
    worker that answers (a log that cannot keep up drops rows rather than slow requests down)."""
    started = time.perf_counter()
    status, body = asyncio.run(loadgen.http_get(HOST, server.port, "/v1/monitor", timeout_s=60.0))
    if status != 200:
        return {"status": status}
    doc = json.loads(body)
    return {"rows": doc["log"]["rows"], "dropped_by_one_worker": doc["log"]["dropped_by_this_worker"],
            "alerts": doc["alerts"], "monitor_seconds": round(time.perf_counter() - started, 2)}


def pooled(cells: list[dict]) -> dict[tuple[str, int], dict]:
    """Each (server, concurrency)'s cell; one measured more than once (--monitor): its pooled figures."""
    by = {(c["server"], c["concurrency"]): c for c in cells}
    for key in {(c["server"], c["concurrency"]) for c in cells}:
        repeats = [c for c in cells if (c["server"], c["concurrency"]) == key]
        if len(repeats) > 1:
            n = sum(c["requests"] for c in repeats)
            by[key] = {**repeats[-1], "rate": n / sum(c["seconds"] for c in repeats), "requests": n,
                       "errors": sum(c["errors"] for c in repeats),
                       "errors_outside_window": sum(c["errors_outside_window"] for c in repeats),
                       **{k: sum(c[k] * c["requests"] for c in repeats) / n if n else None
                          for k in ("gen_cpu_us_per_req", "server_cpu_us_per_req")},
                       "other_cpu_pct_of_machine": sum(c["other_cpu_pct_of_machine"] for c in repeats) / len(repeats),
                       "batches": pooled_batches([c.get("batches") for c in repeats])}
    return by


def pooled_batches(readings: list[dict | None]) -> dict | None:
    known = [r for r in readings if r is not None]
    if not known or len(known) < len(readings):
        return None
    return serve_parts.batch_summary(*(sum(r[k] for r in known) for k in ("calls", "inputs", "model_seconds")))


def ceiling(by: dict[tuple[str, int], dict], parts: dict) -> dict | None:
    """practica's rate at 32 clients against the rate its measured parts allow on these cores.

    A request costs the server at least the no-op route's CPU (measured on the same server, same
    concurrency), its image's decoding and its share of a model call at the mean batch size the server
    reached (both timed alone: ``serve_parts``); the generator on the same cores costs its own CPU per
    request too. So the cores can serve at most cores / (all of those) requests per second."""
    p, noop = by.get(("practica", JUDGED_AT)), by.get(("no-op", JUDGED_AT))
    if not p or not noop or not p["requests"] or not noop["requests"]:
        return None
    batches = p.get("batches") or {}
    mean_batch = batches.get("mean_batch")
    per_call = parts["model_us_per_call"]
    if mean_batch:
        model = serve_parts.per_image_at(per_call, mean_batch)
        ort = serve_parts.per_image_at(parts["ort_us_per_call"], mean_batch)
    else:  # not read from every worker: the cheapest size measured, so the highest ceiling (the strictest)
        b = min(per_call, key=lambda b: per_call[b] / b)
        model, ort = per_call[b] / b, parts["ort_us_per_call"][b] / b
    cores = usable_cores()
    server_us = noop["server_cpu_us_per_req"] + parts["decode_us_per_image"] + model
    gen_us = p["gen_cpu_us_per_req"]
    rate = cores * 1e6 / (server_us + gen_us)
    other = min(0.99, p["other_cpu_pct_of_machine"] / 100)  # the share of the cores other processes took
    return {
        "concurrency": JUDGED_AT, "cores": cores, "mean_batch": mean_batch,
        "noop_us": noop["server_cpu_us_per_req"], "decode_us": parts["decode_us_per_image"],
        "model_us": model, "ort_us": ort, "server_parts_us": server_us, "generator_us": gen_us,
        "ceiling_rate": rate, "practica_rate": p["rate"], "practica_errors": p["errors"] + p["errors_outside_window"],
        "ratio": p["rate"] / rate, "target": TARGET_VS_CEILING,
        "met": p["rate"] / rate >= TARGET_VS_CEILING and p["errors"] + p["errors_outside_window"] == 0,
        # how far the server's own CPU per request is from its parts: robust to other load on the machine
        "server_cpu_us": p["server_cpu_us_per_req"],
        "parts_share_of_server_cpu": server_us / p["server_cpu_us_per_req"],
        "model_wall_us_in_server": batches.get("model_wall_us_per_input"),
        "other_load_pct": 100 * other, "ratio_to_cores_left": p["rate"] / (rate * (1 - other)),
    }


def ratios(name: str, cells: list[dict], by: dict[tuple[str, int], dict], concurrency: list[int]) -> list[dict]:
    out = []
    for conc in concurrency:
        p, noop = by.get(("practica", conc)), by.get(("no-op", conc))
        row: dict[str, Any] = {"concurrency": conc, "judged": conc == JUDGED_AT}
        for naive_kind in NAIVE_KINDS:
            naive = by.get((naive_kind, conc))
            if p and naive and naive["rate"]:
                key = f"practica_vs_{naive_kind.replace('-', '_')}"
                row[key] = p["rate"] / naive["rate"]
                target = TARGET_VS_NAIVE.get(name)
                row[key + "_target"] = target
                row[key + "_met"] = None if target is None else row[key] >= target
        if p and noop and noop["rate"]:
            row["practica_vs_noop_rate"] = p["rate"] / noop["rate"]
            row["practica_vs_noop_rate_met"] = row["practica_vs_noop_rate"] >= TARGET_VS_NOOP_RATE
            row["p99_vs_noop"] = p["p99_ms"] / noop["p99_ms"] if noop["p99_ms"] else float("inf")
            row["p99_vs_noop_met"] = row["p99_vs_noop"] <= TARGET_P99_VS_NOOP
        logged = by.get((LOGGED, conc))
        if p and logged and p["rate"]:
            row["log_vs_plain_rate"] = logged["rate"] / p["rate"]
            row["log_vs_plain_rate_met"] = row["log_vs_plain_rate"] >= TARGET_LOG_VS_PLAIN
            # each back-to-back pair's own ratio (in ABBA order): what a swing in the machine's other load cannot bias
            plain = [c["rate"] for c in cells if (c["server"], c["concurrency"]) == ("practica", conc)]
            with_log = [c["rate"] for c in cells if (c["server"], c["concurrency"]) == (LOGGED, conc)]
            row["log_vs_plain_pairs"] = [b / a for a, b in zip(plain, with_log, strict=False) if a]
        if p:
            row["practica_errors"] = p["errors"] + p["errors_outside_window"]
            row["practica_errors_met"] = row["practica_errors"] == 0
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def _mark(met) -> str:
    return "" if met is None else ("met" if met else "MISSED")


def print_report(result: dict) -> None:
    m = result["machine"]
    s = result["settings"]
    print(f"\nMachine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); {m['platform']}")
    print(f"Python {m['python']}, onnxruntime {m['onnxruntime']}, torch {m['torch']}, fastapi {m['fastapi']}, "
          f"uvicorn {m['uvicorn']}; generator on {m['loop']}")
    source = "CIFAR-10 test" if s["images_from"] == "cifar10" else "scikit-learn 8×8 digit"
    print(f"{s['seconds']:g} s per cell after {s['warmup']:g} s warm-up (clients connecting over its first "
          f"{s['ramp']:g} s); {s['images']} different {source} "
          f"images (base64 PNG, ~{s['mean_body_bytes']:.0f} B bodies), one per request; practica serve --workers "
          f"{s['workers']}; naive: 1 process with {s['threads']} torch threads; naive-w: {s['workers']} processes "
          f"with 1 torch thread each; naive handler {s['naive_handler']}; access log "
          f"{'on' if s['access_log'] else 'off'} in both servers")
    for name, model in result["models"].items():
        print(f"\n{name} ({model['bundle']})")
        print(f"  {'server':<9} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
              f" {'gen CPU µs/req':>15} {'srv CPU µs/req':>15} {'other load':>10}")
        for c in sorted(model["cells"], key=lambda c: (SERVER_ORDER.index(c["server"]),
                                                       c["concurrency"])):
            print(f"  {c['server']:<9} {c['concurrency']:>7} {c['rate']:>9.0f} {c['p50_ms']:>8.2f} "
                  f"{c['p99_ms']:>8.2f} {c['errors']:>7} {_f(c['gen_cpu_us_per_req']):>15} "
                  f"{_f(c['server_cpu_us_per_req']):>15} {_f(c['other_cpu_pct_of_machine']):>9}%")
        target = TARGET_VS_NAIVE.get(name)
        print(f"  ratios (targets are set for {JUDGED_AT} clients; other rows for information):")
        print(f"  {'clients':>7}  {'practica/naive':>24}  {'practica/naive-w':>24}  {'practica/no-op rate':>24}"
              f"  {'p99 practica/no-op':>24}  {'errors':>10}")
        for r in model["ratios"]:
            def cell(key, tgt, op, r=r):
                if key not in r:
                    return "—"
                t = "" if tgt is None else f" ({op}{tgt:g}) {_mark(r[key + '_met'])}"
                return f"{r[key]:.2f}×{t}"
            print(f"  {r['concurrency']:>7}{'*' if r['judged'] else ' '} {cell('practica_vs_naive', target, '≥'):>24}  "
                  f"{cell('practica_vs_naive_w', target, '≥'):>24}  "
                  f"{cell('practica_vs_noop_rate', TARGET_VS_NOOP_RATE, '≥'):>24}  "
                  f"{cell('p99_vs_noop', TARGET_P99_VS_NOOP, '≤'):>24}  "
                  f"{str(r.get('practica_errors', '—')) + ' ' + _mark(r.get('practica_errors_met')):>10}")
        if model.get("ceiling"):
            print_ceiling(model["ceiling"], model["ratios"])
        for r in model["ratios"]:
            if "log_vs_plain_rate" in r:
                pairs = sorted(r["log_vs_plain_pairs"])
                median = pairs[len(pairs) // 2] if len(pairs) % 2 else sum(pairs[len(pairs) // 2 - 1:][:2]) / 2
                print(f"  prediction log: {r['concurrency']:>3} clients, practica+log / practica rate "
                      f"{r['log_vs_plain_rate']:.3f}× pooled (≥{TARGET_LOG_VS_PLAIN:g}) "
                      f"{_mark(r['log_vs_plain_rate_met'])}{'*' if r['judged'] else ''}; back-to-back pairs "
                      f"{', '.join(f'{x:.3f}' for x in r['log_vs_plain_pairs'])} (median {median:.3f})")
        if LOGGED in model["servers"]:
            print(f"  prediction log {model['servers'].get('log_db')}: {model['servers'][LOGGED].get('monitor')}")
        if model["top1_agreement_practica_naive"] is not None:
            print(f"  top-1 agreement practica vs naive on {len(model['servers']['practica']['top1'])} images: "
                  f"{model['top1_agreement_practica_naive']:.0%}")
    print("\n* judged row. CPU columns are measured while recording: the load generator's own CPU time, the "
          "server's process tree's, and the rest of the machine's load (other processes) as % of all cores.")


def print_ceiling(c: dict, rows: list[dict]) -> None:
    batch = (f"mean batch {c['mean_batch']:.1f}" if c["mean_batch"]
             else "batch sizes not read from every worker: the cheapest size measured")
    print(f"  ceiling at {c['concurrency']} clients, from the parts (CPU µs per request): no-op {c['noop_us']:.0f} + "
          f"decode {c['decode_us']:.0f} + model {c['model_us']:.0f} (ORT {c['ort_us']:.0f}, {batch}) = "
          f"{c['server_parts_us']:.0f} in the server, + generator {c['generator_us']:.0f} on the same cores → "
          f"{c['cores']} cores / {c['server_parts_us'] + c['generator_us']:.0f} µs = {c['ceiling_rate']:,.0f} req/s")
    row = next((r for r in rows if r["concurrency"] == c["concurrency"]), {})
    naive = "; ".join(f"practica/{k} {row[key]:.2f}×" for k, key in (("naive", "practica_vs_naive"),
                                                                     ("naive-w", "practica_vs_naive_w")) if key in row)
    print(f"  practica {c['practica_rate']:,.0f} req/s = {c['ratio']:.2f} of the ceiling (≥{c['target']:g}), "
          f"errors {c['practica_errors']}: {_mark(c['met'])}{'; ' + naive if naive else ''}")
    wall = c["model_wall_us_in_server"]
    print(f"  the parts are {c['parts_share_of_server_cpu']:.0%} of the server's CPU per request "
          f"({c['server_cpu_us']:.0f} µs)" + (f"; model calls took {wall:.0f} µs per input (wall) in the server"
                                              if wall else "")
          + f"; other load {c['other_load_pct']:.0f}% of the cores (against the cores it left: "
          f"{c['ratio_to_cores_left']:.2f} of the ceiling)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--bundles", nargs="+", default=DEFAULT_BUNDLES, metavar="NAME=PATH",
                    help="models to serve, as NAME=bundle folder (default: %(default)s)")
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32], help="clients (default: 1 8 32)")
    ap.add_argument("--seconds", type=float, default=10.0, help="recorded seconds per cell (default: 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each cell (default: 3)")
    ap.add_argument("--ramp", type=float, default=0.5,
                    help="the clients connect one after another over this many seconds at the start of the warm-up "
                         "(default: 0.5; 0: all at once, which a multi-worker server may take all on one worker)")
    ap.add_argument("--images", type=int, default=256, help="different test images, rotated (default: 256)")
    ap.add_argument("--servers", nargs="+", choices=("practica", "naive"), default=["practica", "naive"],
                    help="which servers (practica includes its no-op route)")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                    help="naive server's torch intra-op threads; default min(4, CPU count), what ONNX Runtime "
                         "gets in a bundle by default (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=usable_cores(),
                    help="processes for practica serve and for the naive-w server "
                         "(default: the usable cores, %(default)s)")
    ap.add_argument("--practica-args", default="", help="extra options for practica serve, e.g. '--max-batch-size 32'")
    ap.add_argument("--naive-args", default="", help="extra options for bench/naive_server.py, e.g. '--handler async'")
    ap.add_argument("--access-log", action="store_true",
                    help="uvicorn's access log on, in both servers (default: off in both)")
    ap.add_argument("--timeout", type=float, default=30.0, help="a request slower than this is an error (s)")
    ap.add_argument("--start-timeout", type=float, default=120.0, help="seconds for a server to become ready")
    ap.add_argument("--monitor", action="store_true",
                    help="also run practica recording every prediction (--monitor-db), and print the rate ratio")
    ap.add_argument("--repeats", type=int, default=2,
                    help="with --monitor: plain and logging servers measured in turn this many times per concurrency")
    ap.add_argument("--images-from", choices=("cifar10", "digits"), default="cifar10",
                    help="request bodies: CIFAR-10 test images (data/cifar10-jpeg) or scikit-learn's 8×8 digits")
    ap.add_argument("--parts-repeats", type=int, default=5,
                    help="passes per part (decode, model call at each batch size) when timing them alone; the "
                         "median counts (default: 5)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if min(args.concurrency) < 1 or args.seconds <= 0 or args.warmup < 0 or args.images < 1 or args.parts_repeats < 1:
        ap.error("concurrency must be ≥ 1, seconds > 0, warm-up ≥ 0, images ≥ 1, parts repeats ≥ 1")
    if args.ramp < 0 or (args.ramp > 0 and args.ramp >= args.warmup):
        ap.error(f"--ramp must be at least 0 and shorter than the warm-up ({args.warmup:g} s): the clients must all be "
                 "connected before recording starts")
    bundles = parse_bundles(args.bundles)
    if "practica" in args.servers:
        probe = subprocess.run(practica_cmd() + ["serve", "--help"], capture_output=True, text=True, cwd=ROOT,
                               check=False, env=checkout_env())
        if probe.returncode != 0:
            sys.exit(f"`practica serve` is not available here:\n{(probe.stdout + probe.stderr)[-800:]}\n"
                     "Run with --servers naive to measure the naive server alone.")
    naive_handler = "sync" if "sync" in args.naive_args.replace("async", "") else "async"

    bodies = digits_bodies(args.images) if args.images_from == "digits" else load_bodies(args.images)
    result = {
        "machine": machine_info(),
        "settings": {"seconds": args.seconds, "warmup": args.warmup, "ramp": args.ramp, "concurrency": args.concurrency,
                     "images": len(bodies), "images_from": args.images_from,
                     "mean_body_bytes": sum(map(len, bodies)) / len(bodies),
                     "threads": args.threads, "workers": args.workers, "naive_handler": naive_handler,
                     "practica_args": args.practica_args,
                     "naive_args": args.naive_args, "access_log": args.access_log, "timeout_s": args.timeout,
                     "targets": {"practica_vs_naive": TARGET_VS_NAIVE, "practica_vs_noop_rate": TARGET_VS_NOOP_RATE,
                                 "p99_vs_noop": TARGET_P99_VS_NOOP, "practica_vs_ceiling": TARGET_VS_CEILING,
                                 "judged_at": JUDGED_AT}},
        "models": {},
    }
    m = result["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, onnxruntime {m['onnxruntime']}, "
          f"torch {m['torch']}; generator on {m['loop']}", file=sys.stderr)
    for name, path in bundles.items():
        result["models"][name] = run_model(name, path, bodies, args)
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nresults: {args.json}")


if __name__ == "__main__":
    main()
