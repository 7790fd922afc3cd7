"""What an operator can tune in the HTTP service; the CLI options map onto these fields."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from practica.bundle.inputs import DEFAULT_MAX_PIXELS, DEFAULT_MAX_REQUEST_PIXELS


@dataclass(frozen=True)
class ServeSettings:
    max_batch_size: int = 64  # inputs per ONNX Runtime call
    max_wait_ms: float = 0.0  # how long the first queued input waits for others to join its batch
    max_body_bytes: int = 10 * 1024 * 1024
    max_items: int = 64  # inputs per request
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # width × height of one image, checked before decoding
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS  # the sum over a request's images, checked before decoding any
    api_key: str | None = None  # when set, every route but the page and health needs it
    top_k: int = 5  # predictions per input when the request does not say
    bench_routes: bool = False  # adds POST /v1/noop, the HTTP floor a benchmark compares against
    # Monitoring is off unless a log path is given: a server that writes files where it was started
    # surprises an operator (and fails in a read-only container), and the log keeps every input's
    # summary (a table's feature values), which an operator should choose to keep.
    monitor_db: str | None = None  # the SQLite prediction log (practica.monitoring)
    monitor_window: int = 1000  # the newest inputs GET /v1/monitor and the drift gauges are computed over
    monitor_max_rows: int = 1_000_000  # the log's bound: older rows are deleted in chunks
    alert_webhook: str | None = None  # drift alerts are POSTed here as JSON, as well as logged

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_body_bytes", "max_items", "max_image_pixels", "max_request_pixels",
                     "top_k", "monitor_window", "monitor_max_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, not {self.max_wait_ms}")
        if self.api_key == "":
            raise ValueError("api_key must not be empty; leave it unset to serve without authentication")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        return cls(**json.loads(text))
