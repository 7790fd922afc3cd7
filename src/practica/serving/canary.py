"""A canary: a sticky share of clients answered by a challenger, judged over a sliding window of its requests.

A client is in the canary when the hash of its key (the X-Client-ID header, else its address) falls under
the fraction: the same client always gets the same model, and raising the fraction only adds clients.
The judge rolls the canary back when, over its last ``window`` requests (once it has seen
``min_requests``), the share of failed requests (5xx, model exceptions) or the 95th-percentile latency
crosses its limit.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass

from practica.text import ms, percent


@dataclass(frozen=True)
class CanaryPolicy:
    """When a canary is rolled back (the CLI's ``--canary-*`` options)."""

    max_error_rate: float = 0.05  # failed requests / requests over the window
    max_p95_ms: float = 500.0  # the window's 95th-percentile latency of the model (queue + ONNX Runtime)
    min_requests: int = 20  # no verdict before the canary has answered this many
    window: int = 100  # the last requests judged

    def __post_init__(self) -> None:
        if not 0 <= self.max_error_rate < 1:
            raise ValueError(f"max_error_rate must be in [0, 1), not {self.max_error_rate}")
        if self.max_p95_ms <= 0:
            raise ValueError(f"max_p95_ms must be above 0, not {self.max_p95_ms}")
        if not 1 <= self.min_requests <= self.window:
            raise ValueError(f"min_requests must be between 1 and window ({self.window}), not {self.min_requests}")


def in_canary(client: str, fraction: float) -> bool:
    """Whether ``client`` is in the canary's share: sticky (a hash, not a coin flip)."""
    h = int.from_bytes(hashlib.sha256(client.encode()).digest()[:8], "big")
    return h / 2**64 < fraction


class CanaryJudge:
    """The canary's last requests, and the verdict on them."""

    def __init__(self, policy: CanaryPolicy) -> None:
        self.policy = policy
        self._outcomes: deque[tuple[float, bool]] = deque(maxlen=policy.window)  # (seconds, failed)

    def observe(self, seconds: float, failed: bool) -> tuple[str, str] | None:
        """Record one request; ``(kind, why)`` once the window crosses a limit (kind: error_rate or latency)."""
        self._outcomes.append((seconds, failed))
        n = len(self._outcomes)
        if n < self.policy.min_requests:
            return None
        failures = sum(f for _, f in self._outcomes)
        if failures / n > self.policy.max_error_rate:
            return "error_rate", (f"error rate {percent(failures / n)} ({failures} of the last {n} requests) is over "
                                  f"the limit of {percent(self.policy.max_error_rate)}")
        # failed requests may end early or late: the latency judged is that of the answers
        answered = sorted(s for s, f in self._outcomes if not f)
        if answered:
            p95 = answered[min(len(answered) - 1, int(0.95 * len(answered)))] * 1000
            if p95 > self.policy.max_p95_ms:
                return "latency", (f"p95 latency {ms(p95)} over the last {n} requests is over the limit of "
                                   f"{ms(self.policy.max_p95_ms)}")
        return None
