"""Size and speed of predictors: batch-1 latency percentiles and batched throughput.

Models are timed in interleaved rounds (a slice of every model's calls per round), so a burst
of other work on the machine lands on all of them alike and their figures stay comparable.
Batch-1 latency is measured on one thread (PyTorch and BLAS alike): a single sample gains
nothing from intra-op threads, and a server runs one such thread per worker; threads only
add spin-wait jitter to the tail. Throughput uses every thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from practica.evaluation.predictors import Predictor
from practica.evaluation.records import Cost

WARMUP_CALLS = 10  # first calls pay for allocation and lazy initialisation
ROUNDS = 10  # interleaving rounds; each gives every model a tenth of its calls
THROUGHPUT_SECONDS = 1.0  # per model, spread over the rounds: enough to average out scheduler noise


@contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def measure_costs(
    predictors: Mapping[str, Predictor], x: np.ndarray, *, latency_samples: int, batch: int
) -> dict[str, Cost]:
    """Time ``latency_samples`` single-sample predictions per model, then batches of ``batch``."""
    n = len(x)
    chunk = x[np.resize(np.arange(n), batch)]
    for p in predictors.values():
        for i in range(WARMUP_CALLS):
            p.outputs(x[i % n : i % n + 1])
    times: dict[str, list[float]] = {name: [] for name in predictors}
    done = dict.fromkeys(predictors, 0)
    spent = dict.fromkeys(predictors, 0.0)
    per_round = max(1, latency_samples // ROUNDS)
    for r in range(ROUNDS):
        with one_thread():
            for name, p in predictors.items():
                for i in range(r * per_round, (r + 1) * per_round):
                    sample = x[i % n : i % n + 1]
                    start = time.perf_counter()
                    p.outputs(sample)
                    times[name].append(time.perf_counter() - start)
        for name, p in predictors.items():
            start = time.perf_counter()
            while True:  # at least one batch per round, about a tenth of the budget
                p.outputs(chunk)
                done[name] += len(chunk)
                if time.perf_counter() - start >= THROUGHPUT_SECONDS / ROUNDS:
                    break
            spent[name] += time.perf_counter() - start
    out = {}
    for name, p in predictors.items():
        ms = np.asarray(times[name]) * 1000
        out[name] = Cost(
            params=int(p.params),
            size_bytes=int(p.size_bytes),
            latency_p50_ms=float(np.percentile(ms, 50)),
            latency_p95_ms=float(np.percentile(ms, 95)),
            throughput=float(done[name] / spent[name]),
        )
    return out


def measure_cost(predictor: Predictor, x: np.ndarray, *, latency_samples: int, batch: int) -> Cost:
    """One model alone (see ``measure_costs`` to compare several)."""
    return measure_costs({"model": predictor}, x, latency_samples=latency_samples, batch=batch)["model"]
