"""What a tracker is handed: one record per experiment, one for the suite's decision.

Built from the runner's own records (``Ok``/``Failed``, the ``Decision``) once they are final, so every
tracker logs the same names: per-epoch figures from the experiment's ``History`` (step = epoch), final
figures on validation and test with their intervals, the cost, and the diagnosis's verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from practica.evaluation.records import ClassificationMetrics
from practica.results import ExperimentResult, Ok
from practica.selection.records import Decision
from practica.tasks import get_task
from practica.training.history import EpochRecord, History

Param = str | int | float | bool


@dataclass(frozen=True)
class ExperimentLog:
    """One experiment of a suite run, as every tracker logs it."""

    name: str
    params: dict[str, Param]  # the resolved experiment spec, flattened: "train.optimizer.lr" → 0.001
    tags: dict[str, str]  # practica.status, practica.verdict, practica.model_kind...
    history: History | None = None  # None for a scikit-learn baseline, or a failed experiment
    metrics: dict[str, float] = field(default_factory=dict)  # final figures; finite values only
    classes: tuple[str, ...] = ()
    confusion: ClassificationMetrics | None = None  # the validation split's, for a classifier


@dataclass(frozen=True)
class SuiteLog:
    """What the run decided, and the files that show it."""

    decision: Decision
    files: tuple[Path, ...]  # the report (HTML, Markdown) and decision.json
    bundle: Path | None  # the chosen model's bundle, when it was written


def flatten(value: Any, prefix: str = "") -> dict[str, Param]:
    """A nested mapping as dotted keys; lists as JSON text (a layer list is one parameter), None as "none".

    >>> flatten({"model": {"arch": "mlp", "params": {"hidden": [32]}}, "seed": None})
    {'model.arch': 'mlp', 'model.params.hidden': '[32]', 'seed': 'none'}
    """
    if isinstance(value, dict):
        out: dict[str, Param] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list | tuple):
        return {prefix: json.dumps(value, separators=(",", ":"))}
    if value is None:
        return {prefix: "none"}
    return {prefix: value if isinstance(value, str | int | float | bool) else str(value)}


def epoch_figures(record: EpochRecord) -> dict[str, float]:
    """One epoch's figures under the names both trackers use: ``loss/train``, ``accuracy/val``, ``lr``."""
    named = {"train_loss": record.train_loss, "val_loss": record.val_loss, **record.metrics}
    out = {}
    for key, value in named.items():
        split, _, figure = key.partition("_")
        out[f"{figure}/{split}" if split in ("train", "val") else key] = value
    out["lr"] = record.lr
    out["seconds"] = record.seconds
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def experiment_log(result: ExperimentResult, task_name: str, classes: tuple[str, ...], *, suite: str,
                   run_id: str) -> ExperimentLog:
    """The tracker's record of ``result``: an ``Ok`` with its figures, a ``Failed`` with its error."""
    spec = result.spec
    tags = {"practica.suite": suite, "practica.run_id": run_id, "practica.experiment": spec.name,
            "practica.model_kind": "sklearn" if spec.model.kind == "sklearn" else "network",
            "practica.status": result.status}
    if spec.description:
        tags["mlflow.note.content"] = spec.description  # MLflow shows it as the run's description
    params = flatten(spec.model_dump(mode="json", exclude={"description"}))
    if not isinstance(result, Ok):
        return ExperimentLog(spec.name, params, {**tags, "practica.error": result.error[:5000]})
    if result.diagnosis is not None:
        tags["practica.verdict"] = result.diagnosis.verdict
    if result.history is not None:
        tags["practica.stop_reason"] = result.history.stop_reason
    confusion = result.trained.val.figures
    return ExperimentLog(spec.name, params, tags, result.history, final_metrics(result, task_name), classes,
                         confusion if isinstance(confusion, ClassificationMetrics) else None)


def final_metrics(result: Ok, task_name: str) -> dict[str, float]:
    """The task's metrics on validation and test (``val_accuracy``, ``test_accuracy``), the training split's
    figure, each validation interval's bounds (``val_accuracy_low``/``_high``), the cost and the time."""
    task = get_task(task_name)
    ev = result.evaluation
    out: dict[str, float] = {f"train_{task.metric().name.removeprefix('val_')}": ev.train}
    for metric in task.metrics:
        out[metric.name] = metric.value(ev.val)
        out["test_" + metric.name.removeprefix("val_")] = metric.value(ev.test)
    for name, interval in ev.intervals.items():
        out[f"{name}_low"], out[f"{name}_high"] = interval.low, interval.high
    cost = ev.cost
    out.update(latency_p50_ms=cost.latency_p50_ms, latency_p95_ms=cost.latency_p95_ms,
               throughput_per_s=cost.throughput, size_bytes=float(cost.size_bytes), parameters=float(cost.params),
               train_seconds=result.train_seconds)
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def decision_text(decision: Decision) -> str:
    """The decision as a person reads it: the summary, then one line per experiment, best first."""
    lines = [decision.summary, "", f"metric: {decision.metric}", ""]
    for r in decision.ranking:
        value = "-" if r.value is None else f"{r.value:.6g}"
        lines.append(f"{r.experiment}: {r.status} ({decision.metric} {value}): {r.reason}")
    return "\n".join(lines) + "\n"
