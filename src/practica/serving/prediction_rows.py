"""What the service hands a prediction log: one row per input answered (or shadowed).

The fields are those of ``practica.monitoring.PredictionRow`` (the monitoring contract), so a log can take
them as they are: ``PredictionRow(**dataclasses.asdict(row))``. Rows are built only when someone listens
(``Deployment.on_prediction``), after the response is sent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from practica.monitoring.summaries import input_summaries

Role = Literal["primary", "shadow", "canary"]


@dataclass(frozen=True)
class ServedPrediction:
    time: float  # epoch seconds
    model_version: str
    role: Role
    request_id: str
    client: str | None
    input_summary: dict[str, Any]
    output: str | float  # the label answered, or a regressor's value
    confidence: float | None
    ood_score: float | None
    ood_flag: bool | None
    latency_ms: float
    error: str | None


def prediction_rows(x: np.ndarray, outputs: Sequence[str | float], confidence: list[float] | None,
                    answer: Any = None, *, model_version: str, role: Role, request_id: str, client: str | None,
                    latency_ms: float) -> list[ServedPrediction]:
    """One row per input; ``answer`` is the batcher's ``Scored`` record (its OOD scores and flags, when the
    bundle has them). Each input's summary is the monitoring log's own (``monitoring.summaries``)."""
    now = time.time()
    summaries = input_summaries(x)
    scores = getattr(answer, "ood_scores", None)
    flags = getattr(answer, "ood_flags", None)
    return [ServedPrediction(time=now, model_version=model_version, role=role, request_id=request_id, client=client,
                             input_summary=summary, output=out,
                             confidence=None if confidence is None else confidence[i],
                             ood_score=None if scores is None else float(scores[i]),
                             ood_flag=None if flags is None else bool(flags[i]),
                             latency_ms=latency_ms, error=None)
            for i, (summary, out) in enumerate(zip(summaries, outputs, strict=True))]
