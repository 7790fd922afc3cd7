"""Prometheus instruments of a deployment (hot reloads, shadow, canary), in the app's metrics registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from practica.serving.metrics import LATENCY_BUCKETS


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._shadow_tally: dict[str, tuple[int, int]] = {}  # model → (compared, agreed), for the ratio gauge
        self.model_latency = Histogram(
            "practica_model_latency_seconds", "Time for a model to answer a request's inputs (queue and ONNX "
            "Runtime), by model version and role (primary, canary, shadow).", ("model", "role"),
            buckets=LATENCY_BUCKETS, registry=r)
        self.reloads = Counter("practica_model_reloads", "Hot reloads: the alias moved and this version took over.",
                               ("model",), registry=r)
        self.reload_failures = Counter(
            "practica_model_reload_failures", "Versions the alias moved to that could not be loaded and warmed "
            "(the old version kept serving).", ("model",), registry=r)
        self.shadow_compared = Counter("practica_shadow_predictions", "Inputs the shadow predicted and compared.",
                                       ("model",), registry=r)
        self.shadow_agreed = Counter("practica_shadow_agreements", "Inputs where the shadow's label was the one "
                                     "the client was answered with.", ("model",), registry=r)
        self.shadow_agreement = Gauge("practica_shadow_agreement", "Share of compared inputs the shadow agreed on.",
                                      ("model",), registry=r)
        self.shadow_errors = Counter("practica_shadow_errors", "Shadow predictions that raised.", ("model",),
                                     registry=r)
        self.shadow_dropped = Counter("practica_shadow_dropped", "Inputs not mirrored: the shadow's backlog was full.",
                                      ("model",), registry=r)
        self.canary_requests = Counter("practica_canary_requests", "Requests the canary answered, by outcome.",
                                       ("model", "outcome"), registry=r)
        self.canary_active = Gauge("practica_canary_active", "1 while the canary takes traffic, 0 once rolled back.",
                                   ("model",), registry=r)
        self.canary_rollbacks = Counter("practica_canary_rollbacks", "Automatic canary rollbacks, by what crossed "
                                        "its limit (error_rate, latency).", ("model", "reason"), registry=r)

    def observe_shadow(self, model: str, compared: int, agreed: int) -> None:
        self.shadow_compared.labels(model).inc(compared)
        self.shadow_agreed.labels(model).inc(agreed)
        seen, same = self._shadow_tally.get(model, (0, 0))
        self._shadow_tally[model] = (seen + compared, same + agreed)
        self.shadow_agreement.labels(model).set((same + agreed) / (seen + compared))
