"""Run directories: ``runs/<suite>/<run-id>/``, found again for ``--resume`` and read by ``export``.

``RunDir`` owns the layout of a run and reads and writes every record in it; nothing else spells a
path under a run::

    runs/<suite>/<run-id>/
      suite.yaml            the resolved suite the run used (a resume must use the same)
      run.json              status, code version, chosen model, failures
      data/                 summary.json, splits.json, lineage.json, hygiene.json
      experiments/<name>/   spec.json, result.json, model.safetensors, checkpoint.safetensors,
                            history.csv, predictions.npz, diagnosis.json, cost.json, metrics.json,
                            traceback.txt
      decision.json         the selection
      threshold.json        the chosen model's decision threshold (selection.threshold only)
      report.html, report.md (practica.reporting.write_report names them)
      bundle/               the chosen model's bundle (bundle-<name>/ for others, by practica export)

The records a resumed run trusts (``result.json``, ``model.safetensors``, ``checkpoint.safetensors``)
get their sha256 beside them (``practica.io.write_checksum``) and are checked before they are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BeforeValidator, TypeAdapter

from practica.config.schema import ExperimentSpec, Suite
from practica.data.records import Splits
from practica.diagnosis.records import Diagnosis
from practica.errors import RunError
from practica.evaluation.records import Cost, Evaluation, Predictions, train_from_flat
from practica.evaluation.slice_scores import SLICE_SCORES, SliceScores
from practica.evaluation.thresholds import ThresholdChoice
from practica.io import (
    checksum_problem,
    read_json,
    remove_with_checksum,
    write_bytes,
    write_checksum,
    write_json,
    write_text,
)
from practica.results import Failed, Trained
from practica.selection.records import Decision
from practica.training.history import History

if TYPE_CHECKING:
    import torch

    from practica.data.duplicates.checks import HygieneReport

_TRAINED = TypeAdapter(Annotated[Trained, BeforeValidator(train_from_flat)])  # older runs: train_accuracy/train_r2
_FAILED = TypeAdapter(Failed)
_DIAGNOSIS = TypeAdapter(Diagnosis)
_DECISION = TypeAdapter(Decision)
_COST = TypeAdapter(Cost)
_EVALUATION = TypeAdapter(Evaluation)

BUNDLE_DIR = "bundle"


def resolved_yaml(suite: Suite) -> str:
    return yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False)


class ExperimentDir:
    """``experiments/<name>/`` of a run: one experiment's records and weights."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.parent.parent.name

    @property
    def spec(self) -> Path:
        return self.path / "spec.json"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def model(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.safetensors"

    @property
    def precision_cache(self) -> Path:
        """``precision.json`` two folders up (the run's; a tuning trial's: its run's ``tuning/``): what ``precision:
        auto`` measured, by processor, network, batch and input shape, shared by the experiments (the trials) there,
        so a resume or a sibling with the same network decides without measuring."""
        return self.path.parent.parent / "precision.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions.npz"

    @property
    def diagnosis(self) -> Path:
        return self.path / "diagnosis.json"

    @property
    def slices(self) -> Path:
        return self.path / "slices.json"

    @property
    def cost(self) -> Path:
        return self.path / "cost.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def traceback(self) -> Path:
        """Beside a failure record whose cause was not one practica raises on purpose."""
        return self.path / "traceback.txt"

    def write_spec(self, exp: ExperimentSpec) -> None:
        write_json(self.spec, exp.model_dump(mode="json"))

    def write_result(self, outcome: Trained | Failed) -> None:
        """``result.json``, with its sha256: a resume keeps a finished experiment only while it matches."""
        if isinstance(outcome, Failed):
            record = _FAILED.dump_python(outcome, exclude={"spec"})
        else:
            record = _TRAINED.dump_python(outcome, by_alias=True)
        write_json(self.result, record)
        write_checksum(self.result)

    def read_result(self, exp: ExperimentSpec) -> Trained | Failed:
        record = read_json(self.result)
        if record.get("status") == "failed":
            return _FAILED.validate_python({**record, "spec": exp})
        return _TRAINED.validate_python(record)

    def trust_problems(self, exp: ExperimentSpec) -> list[str]:
        """Why the finished result cannot be kept: its record, or the weights it rests on, no longer match
        their recorded sha256 (a baseline has no weights: it is refitted)."""
        trusted = [self.result] + ([self.model] if exp.model.kind != "sklearn" else [])
        return [p for p in map(checksum_problem, trusted) if p is not None]

    def discard_result(self) -> None:
        """Forget the finished result, its weights and any traceback: the experiment is trained again."""
        remove_with_checksum(self.result)
        remove_with_checksum(self.model)
        remove_with_checksum(self.predictions)
        self.traceback.unlink(missing_ok=True)

    def write_model(self, state: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
        """The trained weights with what rebuilds the network (``meta``), and their sha256."""
        from practica.training.checkpoint import save_tensors

        save_tensors(self.model, dict(state), dict(meta), checksum=True)

    def read_model(self, experiment: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The trained weights and their ``meta``, once they match their recorded sha256."""
        from practica.training.checkpoint import load_tensors

        if (problem := checksum_problem(self.model)) is not None:
            raise RunError(f"{problem}; the experiment '{experiment}' must be trained again: resume its run "
                           f"(practica run SUITE --resume --run-id {self.run_id}), which retrains it.")
        return load_tensors(self.model)

    def discard_untrusted_checkpoint(self) -> str | None:
        """Delete a checkpoint that no longer matches its recorded sha256, and say why; None when there is
        none, or it matches (training resumes from it)."""
        if not self.checkpoint.is_file() or (problem := checksum_problem(self.checkpoint)) is None:
            return None
        remove_with_checksum(self.checkpoint)
        return problem

    def write_history(self, history: History) -> None:
        write_text(self.history, history.to_csv())

    def write_predictions(self, predictions: Predictions) -> None:
        """Every validation and test output, with its sha256 (a resumed run reads them back)."""
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, val=predictions.val, test=predictions.test)
        write_bytes(self.predictions, buffer.getvalue())
        write_checksum(self.predictions)

    def read_predictions(self) -> Predictions | None:
        """The recorded outputs; None when absent (a run from before they were kept) or no longer matching
        their sha256: the caller computes them again from the model."""
        import numpy as np

        if not self.predictions.is_file() or checksum_problem(self.predictions) is not None:
            return None
        with np.load(self.predictions, allow_pickle=False) as f:
            return Predictions(val=f["val"], test=f["test"])

    def write_traceback(self, text: str) -> Path:
        write_text(self.traceback, text)
        return self.traceback

    def write_diagnosis(self, diagnosis: Diagnosis) -> None:
        write_json(self.diagnosis, _DIAGNOSIS.dump_python(diagnosis))

    def read_diagnosis(self) -> Diagnosis | None:
        return _DIAGNOSIS.validate_python(read_json(self.diagnosis)) if self.diagnosis.is_file() else None

    def write_slices(self, scores: SliceScores) -> None:
        """The experiment on every slice (``evaluation.slice_scores``); recomputed from the predictions on resume."""
        write_json(self.slices, SLICE_SCORES.dump_python(scores, mode="json"))

    def read_slices(self) -> SliceScores | None:
        return SLICE_SCORES.validate_python(read_json(self.slices)) if self.slices.is_file() else None

    def write_cost(self, cost: Cost) -> None:
        write_json(self.cost, _COST.dump_python(cost))

    def write_evaluation(self, evaluation: Evaluation) -> None:
        write_json(self.metrics, _EVALUATION.dump_python(evaluation))

    def read_evaluation(self) -> Evaluation | None:
        """The scores of a finished experiment; None when it failed or never ran."""
        return _EVALUATION.validate_python(read_json(self.metrics)) if self.metrics.is_file() else None


def new_run_id(parent: Path) -> str:
    """A run's name under ``parent``: the UTC time it began (``20261203-160210``), ``-2``, ``-3``... when taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id, n = stamp, 1
    while (parent / run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


class RunDir:
    """One run of a suite, ``<runs root>/<suite>/<run-id>/``: its layout, and every record in it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, root: Path, suite: Suite) -> RunDir:
        """A new run of ``suite`` under ``root``, named by the UTC time it began; its suite.yaml written."""
        run = cls(root / suite.name / new_run_id(root / suite.name))
        run.path.mkdir(parents=True)
        write_text(run.suite_file, resolved_yaml(suite))
        return run

    @classmethod
    def find(cls, root: Path, suite: Suite, run_id: str | None) -> RunDir:
        """The run to resume: ``run_id`` if given, else the newest run of this suite. It must have used
        the same suite."""
        base = root / suite.name
        if run_id is not None:
            run = cls(base / run_id)
            if not run.suite_file.is_file():
                raise RunError(f"no run '{run_id}' of suite '{suite.name}' under {base}; list them with: ls {base}")
        else:
            runs = sorted(p for p in base.glob("*") if cls(p).suite_file.is_file()) if base.is_dir() else []
            if not runs:
                raise RunError(f"nothing to resume: no run of suite '{suite.name}' under {base}. "
                               "Drop --resume to start one.")
            run = cls(runs[-1])
        if run.suite_file.read_text(encoding="utf-8") != resolved_yaml(suite):
            raise RunError(
                f"the suite changed since run {run.id} began ({run.suite_file} holds the version it used); "
                "a resumed run must use the same suite. Restore it, or drop --resume to start a new run."
            )
        return run

    @classmethod
    def finished(cls, path: Path) -> RunDir:
        """A run that went as far as its selection (``practica export`` packages from it)."""
        run = cls(path)
        if not run.suite_file.is_file():
            raise RunError(f"{run.path} is not a run directory (no suite.yaml); give a folder under runs/<suite>/, "
                           "e.g. the one practica run printed")
        if not run.decision_file.is_file():
            raise RunError(f"the run {run.path} has not finished (no decision.json); finish it with: "
                           f"practica run SUITE --resume --run-id {run.id}")
        return run

    # ----------------------------------------------------------------- paths

    @property
    def suite_file(self) -> Path:
        return self.path / "suite.yaml"

    @property
    def status_file(self) -> Path:
        return self.path / "run.json"

    @property
    def decision_file(self) -> Path:
        return self.path / "decision.json"

    @property
    def threshold_file(self) -> Path:
        return self.path / "threshold.json"

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def summary_file(self) -> Path:
        return self.data / "summary.json"

    @property
    def splits_file(self) -> Path:
        return self.data / "splits.json"

    @property
    def lineage_file(self) -> Path:
        from practica.data.splits.lineage import LINEAGE_FILE

        return self.data / LINEAGE_FILE

    @property
    def hygiene_file(self) -> Path:
        return self.data / "hygiene.json"

    def experiment(self, name: str) -> ExperimentDir:
        return ExperimentDir(self.path / "experiments" / name)

    def bundle(self, experiment: str | None = None, chosen: str | None = None) -> Path:
        """``bundle/`` for the chosen model (``experiment`` None or ``chosen``), ``bundle-<name>/`` for another."""
        return self.path / (BUNDLE_DIR if experiment is None or experiment == chosen else f"{BUNDLE_DIR}-{experiment}")

    # --------------------------------------------------------------- records

    def read_suite(self) -> Suite:
        """The suite as the run resolved it; loaded again (its paths relative to the run)."""
        from practica.config.load import suite_from_dict
        from practica.errors import ConfigError

        try:
            return suite_from_dict(yaml.safe_load(self.suite_file.read_text(encoding="utf-8")), base_dir=self.path,
                                   origin=str(self.suite_file))
        except ConfigError as err:
            raise RunError(f"the run's suite.yaml no longer loads: {err}") from None

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status_file) if self.status_file.exists() else {}

    def update_status(self, **fields: object) -> None:
        """Merge ``fields`` into run.json (``status``: running, complete, partial, failed, interrupted)."""
        write_json(self.status_file, {**self.read_status(), **fields})

    def write_data(self, splits: Splits, lineage: Mapping[str, Any]) -> None:
        """The splits' indices, a summary with the data's fingerprint, and the lineage of every sample."""
        write_json(self.splits_file, {k: v.tolist() for k, v in splits.indices.items()})
        write_json(self.summary_file, {
            "fingerprint": splits.fingerprint,
            "seed": splits.seed,
            "test_is_fixed": splits.test_is_fixed,
            "task": splits.train.task,
            "classes": list(splits.classes),
            "counts": {name: getattr(splits, name).class_counts() for name in ("train", "val", "test")},
            "input_shape": list(splits.train.input_shape),
            "drops": list(splits.drops),
            "notes": list(splits.notes),
        })
        write_json(self.lineage_file, lineage)

    def data_fingerprint(self) -> str | None:
        """The fingerprint of the data the run trained on; None before it was recorded."""
        return read_json(self.summary_file)["fingerprint"] if self.summary_file.is_file() else None

    def read_lineage(self) -> dict[str, Any] | None:
        return read_json(self.lineage_file) if self.lineage_file.is_file() else None

    def write_hygiene(self, report: HygieneReport) -> None:
        write_json(self.hygiene_file, report.to_dict())

    def write_decision(self, decision: Decision) -> None:
        write_json(self.decision_file, _DECISION.dump_python(decision))

    def read_decision(self) -> Decision:
        return _DECISION.validate_python(read_json(self.decision_file))

    def write_threshold(self, choice: ThresholdChoice) -> None:
        write_json(self.threshold_file, choice.model_dump(mode="json"))

    def read_threshold(self) -> ThresholdChoice | None:
        """The decision threshold the run chose; None when the suite sets none (or the run predates them)."""
        return ThresholdChoice.model_validate(read_json(self.threshold_file)) if self.threshold_file.is_file() else None
