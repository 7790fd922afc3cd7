"""MLflow: the suite run is an MLflow experiment, each practica experiment an MLflow run.

Each experiment's run holds its flattened spec as params, its per-epoch figures as metric histories (step =
epoch), its final figures, its verdict and status as tags, and the validation confusion matrix as a PNG. A
``decision`` run holds the decision in words and the report; the chosen experiment's run holds the bundle,
logged as an ONNX model with a signature from the bundle's input spec and registered as a new version of
``model_name``. The default store is ``sqlite:///<runs dir>/mlflow.db``: a local store with a model registry.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from practica.config.schema import MlflowSpec
from practica.tracking.records import ExperimentLog, SuiteLog, decision_text, epoch_figures

# MLflow's HTTP client retries a dead server for minutes; a tracker that is down should cost seconds.
_QUICK_FAILURE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
_BATCH = 100  # MLflow takes at most 100 params (and 1000 metrics) per log_batch call


def default_uri(runs_root: Path) -> str:
    return f"sqlite:///{(runs_root / 'mlflow.db').resolve()}"


class MlflowTracker:
    label = "MLflow"

    def __init__(self, spec: MlflowSpec, *, suite: str, run_id: str, runs_root: Path) -> None:
        self.uri = spec.uri or default_uri(runs_root)
        # Beside the default store, not in the working directory, which is where MLflow would put them.
        self.artifacts = None if spec.uri else (runs_root / "mlartifacts").resolve().as_uri()
        self.experiment_name = spec.experiment or f"{suite}/{run_id}"
        self.model_name = spec.model_name or suite
        self.suite, self.run_id = suite, run_id
        self.client: Any = None
        self.experiment_id = ""
        self.runs: dict[str, str] = {}  # practica experiment → MLflow run id

    def start(self) -> None:
        from mlflow import MlflowClient

        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        with _quick_failures():
            self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            found = self.client.get_experiment_by_name(self.experiment_name)
            if found is None:
                self.experiment_id = self.client.create_experiment(
                    self.experiment_name, artifact_location=self.artifacts,
                    tags={"practica.suite": self.suite, "practica.run_id": self.run_id})
            else:
                self.experiment_id = found.experiment_id
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(self.experiment_id)
            # A resumed run logs every experiment again, whole: the runs of its earlier attempt go.
            for old in self.client.search_runs([self.experiment_id],
                                               f"tags.`practica.run_id` = '{self.run_id}'", max_results=1000):
                self.client.delete_run(old.info.run_id)

    def where(self) -> str:
        return f"MLflow experiment '{self.experiment_name}' at {self.uri}"

    def experiment(self, log: ExperimentLog) -> None:
        from mlflow.entities import Metric, Param

        with _quick_failures():
            run = self.client.create_run(self.experiment_id, run_name=log.name,
                                         tags={**log.tags, "practica.kind": "experiment"})
            run_id = run.info.run_id
            self.runs[log.name] = run_id
            params = [Param(k, str(v)[:6000]) for k, v in log.params.items()]
            for i in range(0, len(params), _BATCH):
                self.client.log_batch(run_id, params=params[i:i + _BATCH])
            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, 0) for k, v in log.metrics.items()]
            if log.history is not None:  # per-epoch figures under epoch/…, apart from the final ones
                metrics += [Metric(f"epoch/{k}", v, now, r.epoch)
                            for r in log.history.epochs for k, v in epoch_figures(r).items()]
            for i in range(0, len(metrics), 1000):
                self.client.log_batch(run_id, metrics=metrics[i:i + 1000])
            if log.confusion is not None:
                from practica.reporting.plots import confusion_matrix

                png = confusion_matrix(log.confusion, log.classes, title=f"{log.name}: validation")
                self._log_bytes(run_id, png, "confusion_validation.png")
            self.client.set_terminated(run_id, "FINISHED" if log.tags.get("practica.status") == "ok" else "FAILED")

    def finish(self, log: SuiteLog) -> None:
        decision = log.decision
        with _quick_failures():
            for r in decision.ranking:
                if (run_id := self.runs.get(r.experiment)) is not None:
                    self.client.set_tag(run_id, "practica.selection", r.status)
                    self.client.set_tag(run_id, "practica.selection_reason", r.reason[:5000])
            self.client.set_experiment_tag(self.experiment_id, "practica.chosen", decision.chosen or "none")
            self.client.set_experiment_tag(self.experiment_id, "mlflow.note.content", decision.summary)
            run = self.client.create_run(self.experiment_id, run_name="decision", tags={
                "practica.kind": "decision", "practica.suite": self.suite, "practica.run_id": self.run_id,
                "practica.chosen": decision.chosen or "none", "mlflow.note.content": decision.summary})
            self.client.log_text(run.info.run_id, decision_text(decision), "decision.txt")
            for path in log.files:
                if path.is_file():
                    self.client.log_artifact(run.info.run_id, str(path), "report" if path.suffix != ".json" else None)
            self.client.set_terminated(run.info.run_id)
        chosen = self.runs.get(decision.chosen or "")
        if log.bundle is not None and chosen is not None:
            self._log_bundle(log.bundle, chosen)

    def _log_bundle(self, bundle: Path, run_id: str) -> None:
        """The bundle's files as artifacts, its ONNX model as an MLflow model, registered under ``model_name``."""
        import mlflow
        import mlflow.onnx
        import onnx

        from practica.bundle.layout import ONNX_FILE

        with _quick_failures(), _tracking_uri(mlflow, self.uri):
            self.client.log_artifacts(run_id, str(bundle), "bundle")
            with mlflow.start_run(run_id=run_id):
                mlflow.onnx.log_model(onnx.load(str(bundle / ONNX_FILE)), name="model",
                                      signature=bundle_signature(bundle), registered_model_name=self.model_name)

    def _log_bytes(self, run_id: str, data: bytes, name: str) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.client.log_artifact(run_id, str(path))


def bundle_signature(bundle: Path) -> Any:
    """The model's signature from the bundle's card: its input as the ONNX graph takes it (uint8 N×H×W×C
    images, or float32 N×F features), its output N×classes probabilities (a regressor's N×1 values)."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from practica.bundle.load import load_bundle

    loaded = load_bundle(bundle)
    card = loaded.meta
    width = 1 if loaded.task == "regression" else len(loaded.classes)
    shape = (-1, *loaded.input.model_shape)  # a text baseline's graph takes its vocabulary's token counts
    inputs = Schema([TensorSpec(np.dtype(card.input.onnx_dtype), shape, card.input.onnx_name)])
    outputs = Schema([TensorSpec(np.dtype(np.float32), (-1, width), card.output.onnx_name)])
    return ModelSignature(inputs=inputs, outputs=outputs)


@contextmanager
def _quick_failures() -> Iterator[None]:
    """MLflow's HTTP settings for a quick failure, unless the user set them, and its INFO lines ("Creating
    initial MLflow database tables") kept out of practica's output; both restored after."""
    added = {k: v for k, v in _QUICK_FAILURE.items() if k not in os.environ}
    os.environ.update(added)
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
        for key in added:
            os.environ.pop(key, None)


@contextmanager
def _tracking_uri(mlflow: Any, uri: str) -> Iterator[None]:
    """MLflow's fluent API (``log_model``) reads a process-wide URI: set for the call, restored after."""
    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)  # the registry follows it, unless the user set one of their own
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
