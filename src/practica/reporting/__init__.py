"""The report: which model goes to production, and why, with the evidence.

``write_report(run)`` writes ``report.html`` (one self-contained file) and ``report.md``
(with its figures in ``report_files/``) into the run's folder.
"""

from practica.reporting.report import write_report

__all__ = ["write_report"]
