"""Prometheus instruments of one app, in a registry of its own (several apps can share a process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServiceMetrics:
    def __init__(self, model_version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("practica_http_requests", "HTTP requests answered, by route and status code.",
                                ("route", "status"), registry=r)
        self.latency = Histogram("practica_http_request_duration_seconds", "Time to answer a request, by route.",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("practica_batch_size", "Inputs per ONNX Runtime call.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("practica_batch_duration_seconds", "Time of one ONNX Runtime call.",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.items = Counter("practica_items_predicted", "Inputs predicted.", registry=r)
        self.model_info = Gauge("practica_model_info", "The model being served (always 1).", ("version",),
                                registry=r)
        self.serving(model_version)

    def serving(self, model_version: str) -> None:
        """The model now served (after a hot reload, the new one only)."""
        self.model_info.clear()
        self.model_info.labels(model_version).set(1)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.items.inc(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
