"""Alerts: a drift check that starts alerting is logged (logger "practica") and, optionally, POSTed
as JSON to a webhook. Edge-triggered: a check alerts once when it crosses its threshold and says
so again when it clears, not on every read of the monitor.

A webhook that fails (down, slow, refusing) is warned about once; nothing here raises into the server.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from urllib.parse import urlparse

import orjson

from practica.errors import MonitorError
from practica.monitoring.drift import DriftCheck, DriftReport

log = logging.getLogger("practica")

WEBHOOK_TIMEOUT_S = 2.0  # the monitor is read by a request; a slow receiver must not hold it long


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) URL; a MonitorError says what is expected otherwise."""
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MonitorError(f"the alert webhook must be an http:// or https:// URL, not {url!r}")
    return url


class Alerter:
    """Turns drift reports into alert lines and webhook posts, once per change of a check's state."""

    def __init__(self, *, webhook: str | None = None, model_version: str = "",
                 timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
        self.webhook = None if webhook is None else check_webhook_url(webhook)
        self.model_version = model_version
        self.timeout_s = timeout_s
        self.active: dict[str, DriftCheck] = {}  # the checks alerting as of the last report
        self.posted = 0
        self._warned = False

    def notify(self, report: DriftReport) -> list[DriftCheck]:
        """Log (and post) the checks that started alerting since the last report; returns them."""
        now = {c.id: c for c in report.alerts}
        started = [c for key, c in now.items() if key not in self.active]
        cleared = [c for key, c in self.active.items() if key not in now]
        self.active = now
        for c in started:
            log.warning("drift alert (%s): %s [model %s, %d inputs]", c.id, c.sentence, self.model_version,
                        report.rows)
        for c in cleared:
            log.info("drift alert cleared (%s): %s", c.id, c.subject)
        if started and self.webhook is not None:
            self._post({
                "source": "practica", "event": "drift_alert", "model_version": self.model_version,
                "window": report.window, "rows": report.rows, "first_time": report.first_time,
                "last_time": report.last_time,
                "alerts": [c.model_dump(mode="json") for c in started],
                "active": sorted(now),
            })
        return started

    def _post(self, payload: dict) -> None:
        request = urllib.request.Request(self.webhook or "", data=orjson.dumps(payload), method="POST",
                                         headers={"content-type": "application/json", "user-agent": "practica"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (http(s) checked)
                response.read()
            self.posted += 1
        except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts and refused connections are OSErrors
            if not self._warned:
                self._warned = True
                log.warning("the alert webhook %s cannot be reached (%s); alerts still go to this log "
                            "(warned once)", self.webhook, err)
