"""A pipeline run's folder and its record, ``pipeline.json``, rewritten (atomically) at every step's start and end,
so a killed pipeline shows the step it stopped in (``running``) and everything before it.

    RUNS_DIR/NAME/RUN_ID/
      pipeline.json   the record: each step's name, status, times, evidence and message; the outcome
      pipeline.yaml   the pipeline file as read
      suite.yaml      the suite as it ran (its dataset: the new data)
      hygiene.json    the new data's hygiene checks (practica data's report)
      comparison.json challenger against production on the fresh test data, overall and per class
      suite/          the suite's run directory (report, decision, the challenger's bundle)
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from practica.io import write_json, write_text

FORMAT = "practica-pipeline"
RECORD_FILE = "pipeline.json"
STEPS = ("hygiene", "suite", "compare", "register", "promote")

StepStatus = Literal["pending", "running", "passed", "failed", "skipped"]
# promoted: the alias moved to the challenger; not_promoted: registered, the rule kept the alias where it was;
# gate_failed: the new data was refused before training; failed: the suite chose no model, or an error stopped
# the pipeline; interrupted: stopped by Ctrl-C; running: still going, or killed (the running step says where).
Outcome = Literal["running", "promoted", "not_promoted", "gate_failed", "failed", "interrupted"]


class Step(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    name: str
    status: StepStatus = "pending"
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class PipelineRecord(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    format: str = FORMAT
    schema_version: int = 1
    pipeline: str
    run_id: str
    pipeline_file: str
    registry: str
    alias: str
    started: str
    finished: str | None = None
    seconds: float | None = None  # the whole pipeline's, when it ended without an error
    outcome: Outcome = "running"
    exit_code: int | None = None
    message: str = ""
    steps: list[Step]
    code_version: str = ""

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class PipelineRun:
    """One pipeline run's folder; every change to its record is written before the call returns."""

    def __init__(self, path: Path, record: PipelineRecord) -> None:
        self.path = path
        self.record = record

    @classmethod
    def create(cls, runs_dir: Path, name: str, *, pipeline_file: Path, registry: Path, alias: str,
               code_version: str) -> PipelineRun:
        from practica.pipeline.rundir import new_run_id

        run_id = new_run_id(runs_dir / name)
        path = runs_dir / name / run_id
        path.mkdir(parents=True)
        if pipeline_file.is_file():
            shutil.copyfile(pipeline_file, path / "pipeline.yaml")
        record = PipelineRecord(pipeline=name, run_id=run_id, pipeline_file=str(pipeline_file),
                                registry=str(registry), alias=alias, started=now(),
                                steps=[Step(name=s) for s in STEPS], code_version=code_version)
        run = cls(path, record)
        run.save()
        return run

    @property
    def suite_runs(self) -> Path:
        return self.path / "suite"

    def save(self) -> None:
        write_json(self.path / RECORD_FILE, self.record.model_dump(mode="json"))

    def write(self, name: str, obj: Any) -> Path:
        """A record of a step beside pipeline.json (``hygiene.json``, ``comparison.json``), written atomically."""
        target = self.path / name
        if isinstance(obj, str):
            write_text(target, obj)
        else:
            write_json(target, obj)
        return target

    def start(self, name: str) -> None:
        step = self.record.step(name)
        step.status, step.started = "running", now()
        self.save()

    def finish(self, name: str, status: StepStatus, message: str, evidence: dict[str, Any] | None = None) -> None:
        step = self.record.step(name)
        step.finished = now()
        if step.started is None:  # a step skipped without starting
            step.started = step.finished
        step.seconds = round((datetime.fromisoformat(step.finished) - datetime.fromisoformat(step.started))
                             .total_seconds(), 3)
        step.status, step.message = status, message
        step.evidence = {**step.evidence, **(evidence or {})}
        self.save()

    def skip_rest(self, reason: str) -> None:
        """Every step not yet run, marked skipped with ``reason``."""
        for step in self.record.steps:
            if step.status == "pending":
                step.status, step.message = "skipped", reason
        self.save()

    def end(self, outcome: Outcome, exit_code: int, message: str) -> None:
        running = next((s for s in self.record.steps if s.status == "running"), None)
        if running is not None:  # an error or Ctrl-C inside a step: that step failed
            self.finish(running.name, "failed", message)
        self.skip_rest(f"not run: {message}")
        self.record.outcome, self.record.exit_code, self.record.message = outcome, exit_code, message
        self.record.finished = now()
        self.save()
