"""What one logged prediction holds: the contract between the server (which builds the rows) and
the log, the drift statistics and the monitor report (which read them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["primary", "shadow", "canary"]


class PredictionRow(BaseModel):
    """One input's prediction, as the server answered it (or as a shadow model would have).

    ``input_summary`` is cheap to compute and carries no raw input: for an image its mean brightness,
    its contrast (the standard deviation of its pixels) and its channel means, all on a 0–1 scale
    (``{"brightness": b, "contrast": c, "channel_means": [...]}``); for a table the encoded feature
    values in the model's column order (``{"features": [...]}``, null for a missing value).
    ``output`` is the predicted label (classifier) or value (regressor).
    """

    model_config = ConfigDict(frozen=True)

    time: float  # epoch seconds
    model_version: str
    role: Role = "primary"
    request_id: str
    client: str | None = None
    input_summary: dict[str, Any]
    output: str | float | None
    confidence: float | None = None
    ood_score: float | None = None
    ood_flag: bool | None = None
    latency_ms: float
    error: str | None = None
