"""Alerts: a check that starts alerting is logged once and posted to a webhook (a local http.server
here); a webhook that does not answer is warned about once and never raises."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from net_support import free_port

from practica.errors import MonitorError
from practica.monitoring import Alerter, DriftCheck, DriftReport


def report(*alerting: str) -> DriftReport:
    checks = [DriftCheck(id=name, kind="psi", subject=name, value=0.5 if name in alerting else 0.01, threshold=0.25,
                         alert=name in alerting, sentence=f"{name} moved" if name in alerting else f"{name} is calm")
              for name in ("psi:a", "psi:b")]
    return DriftReport(window=100, rows=100, first_time=1.0, last_time=2.0, checks=checks, class_shares={},
                       reference_class_shares={}, confidence_mean=None, reference_confidence_mean=None, ood_rows=0,
                       ood_flag_rate=None, notes=[])


@pytest.fixture
def webhook():
    """A local HTTP server that keeps every JSON body POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_alerts_are_logged_and_posted_once_per_change(webhook, caplog):
    url, received = webhook
    alerter = Alerter(webhook=url, model_version="v7")
    with caplog.at_level(logging.INFO, logger="practica"):
        assert alerter.notify(report()) == []
        assert [c.id for c in alerter.notify(report("psi:a"))] == ["psi:a"]
        assert alerter.notify(report("psi:a")) == []  # still alerting: no new line, no new post
        alerter.notify(report("psi:a", "psi:b"))
        alerter.notify(report())
    assert [b["alerts"][0]["id"] for b in received] == ["psi:a", "psi:b"]
    assert received[0]["model_version"] == "v7" and received[0]["event"] == "drift_alert"
    assert received[1]["active"] == ["psi:a", "psi:b"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["drift alert (psi:a): psi:a moved [model v7, 100 inputs]",
                        "drift alert (psi:b): psi:b moved [model v7, 100 inputs]"]
    assert sum("cleared" in r.getMessage() for r in caplog.records) == 2


def test_a_webhook_that_does_not_answer_is_warned_about_once(caplog):
    port = free_port()  # nothing listens on it
    alerter = Alerter(webhook=f"http://127.0.0.1:{port}/hook", timeout_s=0.5)
    with caplog.at_level(logging.WARNING, logger="practica"):
        alerter.notify(report("psi:a"))
        alerter.notify(report())
        alerter.notify(report("psi:b"))
    unreachable = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(unreachable) == 1 and alerter.posted == 0


def test_a_webhook_must_be_an_http_url():
    with pytest.raises(MonitorError, match="http:// or https:// URL"):
        Alerter(webhook="ftp://example.com/x")
