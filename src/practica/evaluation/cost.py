"""Size and speed of predictors: batch-1 latency percentiles with their intervals, and batched throughput.

Models are timed in interleaved rounds (a slice of every model's calls per round), so a burst of other
work on the machine lands on all of them alike and their figures stay comparable. Batch-1 latency is
measured on one thread (PyTorch and BLAS alike) pinned to one CPU: a single sample gains nothing from
intra-op threads, a server runs one such thread per worker, and threads or migrations between CPUs only
add jitter to the tail. A model is timed until its median's confidence interval is within ``precision``
of the median (±5%) or its ``budget_s`` of timed calls is spent, whichever comes first, and at least
``latency_samples`` calls when the budget allows. Throughput uses every thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from scipy.stats import binom
from threadpoolctl import threadpool_limits

from practica.evaluation.predictors import Predictor
from practica.evaluation.records import Cost, Interval

WARMUP_CALLS = 10  # first calls pay for allocation and lazy initialisation
ROUNDS = 10  # the minimum of calls comes in this many interleaved rounds; later rounds are as large
MIN_CALLS = 20  # even a model that spends its budget in fewer calls gets these (a median needs a few)
THROUGHPUT_SECONDS = 1.0  # per model, spread over the rounds: enough to average out scheduler noise
PRECISION = 0.05  # the median's interval within ±5% of it: the latency is then known well enough
BUDGET_SECONDS = 3.0  # of timed calls per model, at most (beyond MIN_CALLS)
LEVEL = 0.95


@contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def pinned_to_one_cpu() -> Iterator[int | None]:
    """Run the calling thread on one CPU (the last it may use: CPU 0 takes most interrupts), restoring its
    CPUs after; yields the CPU, or None where the system cannot pin (no ``sched_setaffinity``)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = max(before)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # a container may refuse it: time unpinned rather than not at all
        yield None
        return
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def quantile_interval(values: np.ndarray, q: float, level: float = LEVEL) -> Interval:
    """The distribution-free interval of the ``q`` quantile: the order statistics whose ranks a binomial
    (n, q) puts around it with probability ``level`` at least.

    >>> quantile_interval(np.arange(1.0, 101.0), 0.5)
    Interval(low=40.0, high=61.0, level=0.95)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    alpha = 1 - level
    low_rank = int(binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower bound
    high_rank = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    return Interval(low=float(x[max(low_rank, 1) - 1]), high=float(x[min(high_rank, n) - 1]), level=level)


def settled(seconds: list[float], spent: float, *, min_calls: int, precision: float, budget_s: float,
            level: float = LEVEL) -> bool:
    """Whether a model's latency is known well enough: its budget spent (past ``MIN_CALLS``), or at least
    ``min_calls`` timed and the median's interval within ``precision`` of the median."""
    n = len(seconds)
    if n >= MIN_CALLS and spent >= budget_s:
        return True
    if n < min_calls:
        return False
    median = float(np.median(seconds))
    ci = quantile_interval(np.asarray(seconds), 0.5, level)
    return median > 0 and (ci.high - ci.low) / 2 <= precision * median


def time_latency(
    predictors: Mapping[str, Predictor], x: np.ndarray, *, min_calls: int, precision: float, budget_s: float,
    level: float = LEVEL, clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per single-sample call of every model, in interleaved rounds until each is ``settled``."""
    n = len(x)
    times: dict[str, list[float]] = {name: [] for name in predictors}
    spent = dict.fromkeys(predictors, 0.0)
    per_round = max(1, min_calls // ROUNDS)
    active = list(predictors)
    while active:
        for name in active:
            p, seconds = predictors[name], times[name]
            for _ in range(per_round):
                i = len(seconds) % n
                sample = x[i : i + 1]
                start = clock()
                p.outputs(sample)
                seconds.append(clock() - start)
                spent[name] += seconds[-1]
        active = [name for name in active
                  if not settled(times[name], spent[name], min_calls=min_calls, precision=precision,
                                 budget_s=budget_s, level=level)]
    return times


def _throughput(predictors: Mapping[str, Predictor], chunk: np.ndarray) -> dict[str, float]:
    done = dict.fromkeys(predictors, 0)
    spent = dict.fromkeys(predictors, 0.0)
    for _ in range(ROUNDS):
        for name, p in predictors.items():
            start = time.perf_counter()
            while True:  # at least one batch per round, about a tenth of the budget
                p.outputs(chunk)
                done[name] += len(chunk)
                if time.perf_counter() - start >= THROUGHPUT_SECONDS / ROUNDS:
                    break
            spent[name] += time.perf_counter() - start
    return {name: done[name] / spent[name] for name in predictors}


def measure_costs(
    predictors: Mapping[str, Predictor], x: np.ndarray, *, latency_samples: int, batch: int,
    precision: float = PRECISION, budget_s: float = BUDGET_SECONDS, level: float = LEVEL,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Cost]:
    """Time at least ``latency_samples`` single-sample predictions per model (until the median is known within
    ``precision``, or ``budget_s`` of calls is spent), then batches of ``batch`` for the throughput."""
    n = len(x)
    chunk = x[np.resize(np.arange(n), batch)]
    for p in predictors.values():  # before pinning: thread pools a call creates keep every CPU
        for i in range(WARMUP_CALLS):
            p.outputs(x[i % n : i % n + 1])
    with one_thread(), pinned_to_one_cpu():
        times = time_latency(predictors, x, min_calls=latency_samples, precision=precision, budget_s=budget_s,
                             level=level, clock=clock)
    throughput = _throughput(predictors, chunk)
    out = {}
    for name, p in predictors.items():
        ms = np.asarray(times[name]) * 1000
        out[name] = Cost(
            params=int(p.params),
            size_bytes=int(p.size_bytes),
            latency_p50_ms=float(np.percentile(ms, 50)),
            latency_p95_ms=float(np.percentile(ms, 95)),
            throughput=float(throughput[name]),
            latency_p50_interval=quantile_interval(ms, 0.5, level),
            latency_p95_interval=quantile_interval(ms, 0.95, level),
            latency_calls=len(ms),
        )
    return out


def measure_cost(predictor: Predictor, x: np.ndarray, *, latency_samples: int, batch: int) -> Cost:
    """One model alone (see ``measure_costs`` to compare several)."""
    return measure_costs({"model": predictor}, x, latency_samples=latency_samples, batch=batch)["model"]
