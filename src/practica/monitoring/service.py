"""Monitoring inside a running server: record each answer, report drift on demand, keep the gauges.

The server owns one ``Monitor``. On the request path it only queues rows (``record_answers``);
drift is computed when someone asks (``GET /v1/monitor``, a Prometheus scrape of ``/metrics``), over
the newest ``window`` rows of the log file, so with several worker processes every worker reports
on the traffic of all of them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Gauge

from practica.monitoring.alerts import Alerter
from practica.monitoring.drift import DEFAULT_WINDOW, DriftReport, drift_report
from practica.monitoring.log import DEFAULT_MAX_ROWS, PredictionLog, log_stats, read_rows
from practica.monitoring.records import PredictionRow, Role
from practica.monitoring.summaries import input_summaries
from practica.monitoring.thresholds import Thresholds

SUMMARISE_NOW_BYTES = 256 * 1024  # a request's inputs larger than this are summarised on the request path


@dataclass(frozen=True, slots=True)
class Answers:
    """One request's inputs and answers, queued as they are; made into rows by the log's writer thread.
    Large inputs (photographs) come already summarised: their decoding dwarfs the summary's cost, and
    the queue should not hold them."""

    x: np.ndarray | None
    summaries: list[dict] | None
    answers: list[dict]
    request_id: str
    client: str | None
    role: Role
    model_version: str
    time: float
    latency_ms: float

    def __len__(self) -> int:
        return len(self.answers)

    @property
    def nbytes(self) -> int:
        return 0 if self.x is None else self.x.nbytes

    @classmethod
    def batch_values(cls, items: list[Answers]) -> list[tuple]:
        by_shape: dict[tuple | None, list[Answers]] = {}
        for item in items:  # inputs of one shape are summarised in one numpy call (a request's own is ~50× dearer)
            # texts (1-D, of str) apart from inputs summarised already
            by_shape.setdefault(None if item.x is None else (item.x.dtype.kind, *item.x.shape[1:]), []).append(item)
        out = []
        for group in by_shape.values():
            arrays = [item.x for item in group if item.x is not None]
            done = [s for item in group if item.summaries is not None for s in item.summaries]
            summaries = iter(input_summaries(np.concatenate(arrays)) if arrays else done)
            for item in group:
                for answer in item.answers:
                    ood = answer.get("ood") or {}
                    flag = ood.get("flag")
                    out.append((item.time, item.model_version, item.role, item.request_id, item.client,
                                orjson.dumps(next(summaries)).decode(),
                                orjson.dumps(answer.get("label", answer.get("value"))).decode(),
                                answer.get("probability"), ood.get("score"), None if flag is None else int(flag),
                                item.latency_ms, None))
        return out


class Monitor:
    """A server's prediction log, drift report, alerts and drift gauges."""

    def __init__(self, path: str | Path, *, model_version: str, reference: dict[str, Any],
                 registry: CollectorRegistry, window: int = DEFAULT_WINDOW, max_rows: int = DEFAULT_MAX_ROWS,
                 feature_names: Sequence[str] = (), thresholds: Thresholds | None = None,
                 webhook: str | None = None) -> None:
        self.model_version = model_version
        self.reference = reference
        self.window = window
        self.feature_names = tuple(feature_names) or None
        self.thresholds = thresholds or Thresholds()
        self.alerter = Alerter(webhook=webhook, model_version=model_version)
        self.log = PredictionLog(path, max_rows=max_rows)
        self._reporting = threading.Lock()  # two scrapes at once: one report, one alert per change
        self.log.describe_model(model_version, reference, feature_names)
        r = registry
        self.psi = Gauge("practica_drift_psi", "PSI of an input feature (or pixel statistic) over the monitor's "
                         "window against the bundle's reference.", ("feature",), registry=r)
        self.alert = Gauge("practica_drift_alert", "1 while a drift check alerts, 0 otherwise.", ("check",),
                           registry=r)
        self.ood_rate = Gauge("practica_ood_flag_rate", "Share of the window's inputs flagged out of distribution.",
                              registry=r)
        self.class_share = Gauge("practica_prediction_class_share", "Share of the window's answers per predicted "
                                 "class.", ("class",), registry=r)
        self.window_rows = Gauge("practica_monitor_window_rows", "Rows in the monitor's window.", registry=r)

    def record_answers(self, x: np.ndarray, answers: list[dict], *, request_id: str, started: float,
                       client: str | None = None, role: Role = "primary", model_version: str | None = None) -> None:
        """Queue one row per input: ``answers`` are the response's predictions (``label``/``probability``,
        or ``value``; ``ood`` when the server gives it); ``started`` is the request's ``time.perf_counter()``.
        The request pays for a queue put; the writer thread summarises the inputs, many requests at once."""
        summarise_now = x.nbytes > SUMMARISE_NOW_BYTES
        self.log.record(Answers(
            None if summarise_now else x, input_summaries(x) if summarise_now else None, answers, request_id, client,
            role, model_version or self.model_version, time.time(), (time.perf_counter() - started) * 1000))

    def record_rows(self, rows: Sequence[Any]) -> None:
        """Queue rows the deployment built (a shadow's answers: ``serving.prediction_rows.ServedPrediction``,
        the same fields as ``PredictionRow``)."""
        self.log.record([PredictionRow(**dataclasses.asdict(r)) for r in rows])

    def follow(self, model_version: str, reference: dict[str, Any]) -> None:
        """A new primary model (a registry's alias moved): drift is judged on its answers, against its reference."""
        with self._reporting:
            self.log.describe_model(model_version, reference, self.feature_names or ())
            self.model_version, self.reference = model_version, reference
            self.alerter.model_version = model_version

    def report(self) -> DriftReport:
        """Drift over the newest ``window`` rows; refreshes the gauges and raises alerts that are new."""
        with self._reporting:
            # the current model's answers only: after a swap, the old model's answers are not the new one's drift
            rows = [r for r in read_rows(self.log, limit=self.window, role="primary")
                    if r.model_version == self.model_version]
            report = drift_report(rows, self.reference, window=self.window, thresholds=self.thresholds,
                                  feature_names=self.feature_names)
            self._update_gauges(report)
            self.alerter.notify(report)
        return report

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /v1/monitor`` answers: the drift report, the log's counts and the window."""
        report = self.report()
        stats = log_stats(self.log)
        return {
            "model_version": self.model_version,
            "window": self.window,
            "log": {"path": str(self.log.path), "rows": stats.rows, "first_time": stats.first_time,
                    "last_time": stats.last_time, "max_rows": self.log.max_rows,
                    "recorded_by_this_worker": self.log.recorded, "dropped_by_this_worker": self.log.dropped},
            "alerts": [c.id for c in report.alerts],
            "report": report.model_dump(mode="json"),
            # what the report compares against, so that `practica monitor URL` can draw drift over time
            "reference": self.reference,
            "feature_names": list(self.feature_names or ()),
        }

    def rows(self, *, since: float | None, limit: int) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in read_rows(self.log, since=since, limit=limit)]

    def close(self) -> None:
        self.log.close()

    def _update_gauges(self, report: DriftReport) -> None:
        for c in report.checks:
            if c.kind == "psi" and c.feature is not None:
                self.psi.labels(c.feature).set(c.value)
            self.alert.labels(c.id).set(1 if c.alert else 0)
        self.ood_rate.set(report.ood_flag_rate if report.ood_flag_rate is not None else float("nan"))
        for name in report.reference_class_shares or report.class_shares:
            self.class_share.labels(name).set(report.class_shares.get(name, 0.0))
        self.window_rows.set(report.rows)
