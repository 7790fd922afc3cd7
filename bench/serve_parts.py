"""The parts of one prediction, each timed alone, and the ceiling they set (used by serve_load.py).

A single-image request costs practica's server at least:

  no-op   what its /v1/noop route costs: HTTP, reading and parsing the same JSON body (serve_load.py
          measures it on the server itself: server CPU µs per request at the same concurrency)
  decode  base64 + PNG decode of the image, practica's own path: ``payload._decode_all``, what
          ``decode_inputs`` runs inline for a body this small (``open_item``, ``OpenedImage.decode``, stack)
  model   its share of one model call: the function the batcher runs in its model thread
          (``payload.scored_inference``: ONNX Runtime with the bundle's own session options and the
          server's threads per worker, then the out-of-distribution score), at the batch sizes the
          server reached

Decode and model are timed here, in CPU time (``time.process_time``, so other load on the machine
does not inflate them), in as many processes at once as the server has workers: each core is as busy
as under the server, and the figures are per process, averaged. Each figure is the median of
``repeats`` passes. A model call at batch ``b`` costs about ``a + c·b`` (a fixed cost per call, a cost
per image), so its cost per image over a mix of batches is the cost of one call at their mean size
divided by that size: ``model_us_per_image`` interpolates between the measured sizes.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a checkout without `pip install -e`

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
IMAGES_PER_PASS = 128  # images a model pass runs through, at every batch size

_barrier = None  # the processes start each part together (set by _init in each)


def _init(barrier) -> None:
    global _barrier
    _barrier = barrier


def _together() -> None:
    if _barrier is not None:
        _barrier.wait(timeout=300)


def _median_cpu_us(fn, repeats: int, per: int) -> float:
    """CPU µs of one ``fn()`` pass divided by ``per``, median of ``repeats`` passes (after one untimed)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) / per * 1e6)
    return statistics.median(times)


def time_parts(bundle_path: str, bodies: list[bytes], workers: int, repeats: int) -> dict:
    """In this process: decode CPU µs per image; model and ONNX-alone CPU µs per call at each batch size."""
    import numpy as np
    import orjson

    from practica.bundle.load import load_bundle
    from practica.bundle.ood import OodScorer
    from practica.serving.payload import _decode_all, describe_accepted, scored_inference
    from practica.serving.server import onnx_threads
    from practica.serving.settings import ServeSettings

    threads = onnx_threads(workers)  # what each of the server's workers gives ONNX Runtime
    bundle = load_bundle(bundle_path, threads=threads)
    settings = ServeSettings()
    accepted = describe_accepted(bundle.input, settings)
    inputs = [orjson.loads(b)["inputs"] for b in bodies]  # parsing is the no-op route's part

    def decode_all() -> list:
        return [_decode_all(items, bundle.input, settings, accepted) for items in inputs]

    _together()
    decode_us = _median_cpu_us(decode_all, repeats, sum(map(len, inputs)))
    x = np.concatenate(decode_all())
    x = np.concatenate([x] * (-(-IMAGES_PER_PASS // len(x))))[:IMAGES_PER_PASS]
    model = scored_inference(bundle, OodScorer.from_bundle(bundle))

    def pass_of(fn, b: int):
        calls = [x[i:i + b] for i in range(0, len(x) - b + 1, b)]

        def run() -> None:
            for chunk in calls:
                fn(chunk)
        return run, len(calls)

    _together()
    model_us, ort_us = {}, {}
    for b in BATCH_SIZES:
        run, calls = pass_of(model, b)
        model_us[b] = _median_cpu_us(run, repeats, calls)
        run, calls = pass_of(bundle.infer, b)
        ort_us[b] = _median_cpu_us(run, repeats, calls)
    return {"threads": threads, "decode_us_per_image": decode_us, "model_us_per_call": model_us,
            "ort_us_per_call": ort_us, "ood": OodScorer.from_bundle(bundle) is not None}


def measure(bundle: Path, bodies: list[bytes], workers: int, repeats: int = 5) -> dict:
    """``time_parts`` in ``workers`` processes at once; each figure averaged over the processes."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(ctx.Barrier(workers),)) as pool:
        each = list(pool.map(time_parts, *zip(*[(str(bundle), bodies, workers, repeats)] * workers, strict=True)))

    def mean(get) -> float:
        return sum(map(get, each)) / len(each)

    return {
        "processes": workers, "threads": each[0]["threads"], "repeats": repeats, "ood": each[0]["ood"],
        "decode_us_per_image": mean(lambda p: p["decode_us_per_image"]),
        "model_us_per_call": {b: mean(lambda p, b=b: p["model_us_per_call"][b]) for b in BATCH_SIZES},
        "ort_us_per_call": {b: mean(lambda p, b=b: p["ort_us_per_call"][b]) for b in BATCH_SIZES},
    }


def per_image_at(us_per_call: dict, mean_batch: float) -> float:
    """CPU µs per image over batches of mean size ``mean_batch``: one call's cost there (linear between the
    measured sizes; beyond them, the nearest size's cost per image) divided by the size."""
    sizes = sorted(int(b) for b in us_per_call)
    cost = {int(b): v for b, v in us_per_call.items()}
    if mean_batch <= sizes[0]:
        return cost[sizes[0]] / sizes[0]
    if mean_batch >= sizes[-1]:
        return cost[sizes[-1]] / sizes[-1]
    hi = next(s for s in sizes if s >= mean_batch)
    lo = sizes[sizes.index(hi) - 1] if hi != mean_batch else hi
    call = cost[hi] if lo == hi else cost[lo] + (cost[hi] - cost[lo]) * (mean_batch - lo) / (hi - lo)
    return call / mean_batch


# --------------------------------------------------------------------------------------------
# The batch sizes the server reached: its /metrics, one worker at a time
# --------------------------------------------------------------------------------------------
def batch_counters(metrics_text: bytes) -> tuple[float, float, float]:
    """(model calls, inputs, seconds in model calls) so far, from one worker's Prometheus text."""
    want = {b"practica_batch_size_count": 0, b"practica_batch_size_sum": 1, b"practica_batch_duration_seconds_sum": 2}
    values = [0.0, 0.0, 0.0]
    for line in metrics_text.splitlines():
        name, _, value = line.partition(b" ")
        if name in want:
            values[want[name]] = float(value)
    return values[0], values[1], values[2]


def batch_delta(before: set[tuple[float, float, float]], after: set[tuple[float, float, float]],
                workers: int) -> dict | None:
    """What every worker's model calls did between two readings (``before``, ``after``: each worker's
    counters, as told apart by their values); None when not every worker was read both times. Two idle
    workers that have made no call yet look alike: one reading of zeros stands for both."""
    complete_before = len(before) == workers or before == {(0.0, 0.0, 0.0)}
    if len(after) != workers or not complete_before:
        return None
    calls, inputs, seconds = (sum(a[i] for a in after) - sum(b[i] for b in before) for i in range(3))
    return batch_summary(calls, inputs, seconds)


def batch_summary(calls: float, inputs: float, seconds: float) -> dict:
    """Model calls, inputs and seconds in model calls (wall time, in the server), and what follows from them."""
    return {"calls": calls, "inputs": inputs, "model_seconds": seconds,
            "mean_batch": inputs / calls if calls else None,
            "model_wall_us_per_input": seconds / inputs * 1e6 if inputs else None}
