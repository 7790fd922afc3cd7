"""Latency: timed until the median's interval is tight or the budget is spent, on one pinned thread, and
reported with its intervals (a fake predictor on a fake clock, so the timings are known)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from practica.evaluation import cost as cost_module
from practica.evaluation.cost import measure_costs, pinned_to_one_cpu, quantile_interval, time_latency


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeModel:
    """Each call takes a draw of ``seconds()`` on the fake clock."""

    task = "classification"

    def __init__(self, clock: FakeClock, seconds, params: int = 10) -> None:
        self.clock, self.seconds, self.params, self.size_bytes = clock, seconds, params, 4 * params
        self.calls = 0

    def outputs(self, x: np.ndarray) -> np.ndarray:
        self.clock.now += self.seconds()
        self.calls += 1
        return np.full((len(x), 2), 0.5)

    predict_proba = outputs


X = np.zeros((50, 4), dtype=np.float32)


def test_a_steady_model_stops_at_the_minimum_with_a_tight_median():
    clock, rng = FakeClock(), np.random.default_rng(0)
    model = FakeModel(clock, lambda: 1e-3 * (1 + 0.01 * rng.random()))
    times = time_latency({"m": model}, X, min_calls=100, precision=0.05, budget_s=10.0, clock=clock)
    assert len(times["m"]) == 100
    ci = quantile_interval(np.asarray(times["m"]), 0.5)
    assert ci.high - ci.low < 0.1 * np.median(times["m"])


def test_a_noisy_model_is_timed_until_its_median_is_known_within_the_precision():
    clock, rng = FakeClock(), np.random.default_rng(1)
    model = FakeModel(clock, lambda: 1e-3 * rng.lognormal(0.0, 0.5))
    times = np.asarray(time_latency({"m": model}, X, min_calls=50, precision=0.05, budget_s=100.0,
                                    clock=clock)["m"])
    ci = quantile_interval(times, 0.5)
    assert len(times) > 50  # the minimum was not enough
    assert (ci.high - ci.low) / 2 <= 0.05 * np.median(times)
    assert np.median(times) == pytest.approx(1e-3, rel=0.1)  # the lognormal's median


def test_the_budget_stops_a_model_too_noisy_to_pin_down():
    clock, rng = FakeClock(), np.random.default_rng(2)
    model = FakeModel(clock, lambda: 1e-3 * rng.lognormal(0.0, 3.0))
    times = time_latency({"m": model}, X, min_calls=20, precision=0.001, budget_s=0.5, clock=clock)["m"]
    assert sum(times) >= 0.5
    assert sum(times[:-2]) < 0.5  # it stopped at the end of the round that spent the budget (2 calls a round)


def test_models_are_interleaved_and_each_stops_on_its_own():
    clock, rng = FakeClock(), np.random.default_rng(3)
    steady = FakeModel(clock, lambda: 1e-3)
    noisy = FakeModel(clock, lambda: 1e-3 * rng.lognormal(0.0, 0.5))
    times = time_latency({"steady": steady, "noisy": noisy}, X, min_calls=40, precision=0.05, budget_s=100.0,
                         clock=clock)
    assert len(times["steady"]) == 40 and len(times["noisy"]) > 40


def test_costs_carry_the_intervals_and_the_calls(monkeypatch):
    monkeypatch.setattr(cost_module, "THROUGHPUT_SECONDS", 0.01)
    clock, rng = FakeClock(), np.random.default_rng(4)
    fast = FakeModel(clock, lambda: 1e-3 * rng.lognormal(0.0, 0.2), params=10)
    slow = FakeModel(clock, lambda: 5e-3 * rng.lognormal(0.0, 0.2), params=20)
    costs = measure_costs({"fast": fast, "slow": slow}, X, latency_samples=60, batch=8, clock=clock)
    for c in costs.values():
        assert c.latency_p50_interval is not None and c.latency_p95_interval is not None
        assert c.latency_p50_interval.contains(c.latency_p50_ms)
        assert c.latency_p95_interval.contains(c.latency_p95_ms)
        assert c.latency_calls is not None and c.latency_calls >= 60
    assert costs["fast"].latency_p50_interval.high < costs["slow"].latency_p50_interval.low
    assert costs["slow"].latency_p50_ms == pytest.approx(5.0, rel=0.1)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_the_thread_is_pinned_to_one_cpu_and_restored():
    before = os.sched_getaffinity(0)
    with pinned_to_one_cpu() as cpu:
        assert cpu is None or os.sched_getaffinity(0) == {cpu}
    assert os.sched_getaffinity(0) == before


def test_the_median_interval_is_the_order_statistics_a_binomial_gives():
    ci = quantile_interval(np.arange(1.0, 101.0), 0.5)
    assert (ci.low, ci.high, ci.level) == (40.0, 61.0, 0.95)
