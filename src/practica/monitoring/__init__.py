"""Monitoring a served model: every prediction logged, drift against the bundle's reference, alerts.

``PredictionLog`` (log.py) records rows off the request path into a bounded SQLite file;
``drift_report`` (drift.py) compares a window of them with ``reference.json``; ``Alerter``
(alerts.py) logs and posts the checks that start alerting; ``Monitor`` (service.py) is all of it
inside ``practica serve``; ``write_monitor_page`` (page.py) draws ``practica monitor``'s HTML report.
"""

from practica.monitoring.alerts import Alerter
from practica.monitoring.drift import DriftCheck, DriftReport, drift_report
from practica.monitoring.log import PredictionLog, log_stats, read_rows
from practica.monitoring.records import PredictionRow
from practica.monitoring.thresholds import Thresholds

__all__ = ["Alerter", "DriftCheck", "DriftReport", "PredictionLog", "PredictionRow", "Thresholds", "drift_report",
           "log_stats", "read_rows"]
