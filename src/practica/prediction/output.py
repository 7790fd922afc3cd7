"""Write prediction rows as CSV or JSON, streamed into a temporary file renamed into place at the end,
so an interrupted run leaves no half-written output."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from practica.errors import InputError
from practica.io import atomic_write
from practica.prediction.batch import Row

COLUMNS = ("input", "prediction", "probability", "top_k", "true_label", "error", "ood_score", "ood_flag", "ood_reason")
FORMATS = (".csv", ".json")


def check_output_path(path: Path) -> None:
    """Refuse a bad --out before any work is done."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"--out {path}: the output file must end in .csv or .json")
    if path.is_dir():
        raise InputError(f"--out {path} is a folder; give a file name ending in .csv or .json")


def write_rows(rows: Iterable[Row], path: Path) -> None:
    """Write every row to ``path``, as CSV or JSON by its suffix."""
    check_output_path(path)
    write = _write_csv if path.suffix.lower() == ".csv" else _write_json
    atomic_write(path, lambda tmp: write(rows, tmp))


def format_top_k(top_k: tuple[tuple[str, float], ...]) -> str:
    """``label:prob;label:prob``, most probable first."""
    return ";".join(f"{label}:{p:.6f}" for label, p in top_k)


def _write_csv(rows: Iterable[Row], tmp: Path) -> None:
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            probability = "" if r.probability is None else f"{r.probability:.6f}"
            writer.writerow([r.input, r.prediction or "", probability, format_top_k(r.top_k),
                             r.true_label or "", r.error or "", "" if r.ood_score is None else f"{r.ood_score:.4f}",
                             "" if r.ood_flag is None else str(r.ood_flag).lower(), r.ood_reason or ""])


def _write_json(rows: Iterable[Row], tmp: Path) -> None:
    """A JSON list written one row at a time, so nothing holds every row in memory."""
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[")
        for i, r in enumerate(rows):
            record = {
                "input": r.input,
                "prediction": r.prediction,
                "probability": None if r.probability is None else round(r.probability, 6),
                "top_k": [{"label": label, "probability": round(p, 6)} for label, p in r.top_k],
                "true_label": r.true_label,
                "error": r.error,
                # as the service answers it; null without an input (an error) or without ood.json
                "ood": None if r.ood_score is None else {"score": round(r.ood_score, 4), "flag": r.ood_flag,
                                                         "reason": r.ood_reason},
            }
            f.write(("," if i else "") + "\n  " + json.dumps(record, ensure_ascii=False))
        f.write("\n]\n")
