"""Size and speed of a predictor: batch-1 latency percentiles and batched throughput."""

from __future__ import annotations

import time

import numpy as np

from practica.evaluation.predictors import Predictor
from practica.evaluation.records import Cost

WARMUP_CALLS = 10  # first calls pay for allocation and lazy initialisation
THROUGHPUT_SECONDS = 1.0  # long enough to average out scheduler noise on a 2-core machine


def measure_cost(predictor: Predictor, x: np.ndarray, *, latency_samples: int, batch: int) -> Cost:
    """Time ``latency_samples`` single-sample predictions, then batches of ``batch`` for about a second."""
    n = len(x)
    for i in range(WARMUP_CALLS):
        predictor.predict_proba(x[i % n : i % n + 1])
    times = []
    for i in range(latency_samples):
        sample = x[i % n : i % n + 1]
        start = time.perf_counter()
        predictor.predict_proba(sample)
        times.append(time.perf_counter() - start)
    reps = np.resize(np.arange(n), batch)
    chunk = x[reps]
    done, start = 0, time.perf_counter()
    while True:
        predictor.predict_proba(chunk)
        done += len(chunk)
        elapsed = time.perf_counter() - start
        if elapsed >= THROUGHPUT_SECONDS and done >= 3 * len(chunk):
            break
    ms = np.asarray(times) * 1000
    return Cost(
        params=int(predictor.params),
        size_bytes=int(predictor.size_bytes),
        latency_p50_ms=float(np.percentile(ms, 50)),
        latency_p95_ms=float(np.percentile(ms, 95)),
        throughput=float(done / elapsed),
    )
