"""The pipeline file (PIPELINE.yaml), as typed frozen objects, validated once like a suite file.

    schema_version: 1
    name: digits-retrain
    suite: digits_retrain_suite.yaml   # the suite to run; its dataset is replaced by `data`
    data: {source: digits, split: {test: 0.25, seed: 1}}   # the new data, as a suite's `dataset:`
    registry: registry                 # default: $PRACTICA_REGISTRY
    alias: production                  # the alias the challenger challenges, and moves when it wins
    promotion: {min_gain: 0.005, max_class_regression: 0.02}
    hygiene: {max_broken: 0.01, max_test_leakage: 0.0, production_overlap: exclude, max_psi: 0.25}
    runs_dir: runs/pipelines

Inputs (``suite``, the data's paths) are relative to the pipeline file's folder, as a suite's data paths
are to the suite's; outputs (``registry``, ``runs_dir``) are relative to the working directory, as
``practica run --runs-dir`` is.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, ValidationError, field_validator

from practica.config.base import Strict
from practica.config.load import format_validation_error, load_suite, read_yaml_file, suite_from_dict
from practica.config.schema import DatasetSpec, Suite
from practica.errors import ConfigError

SCHEMA_VERSION: Final = 1
MAX_PIPELINE_BYTES = 100_000  # a pipeline file is a few hundred bytes
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # as a suite's name: it names a folder


class PromotionRule(Strict):
    """When the challenger replaces the version under ``alias``: it beats it on the suite's selection metric by
    ``min_gain`` on the fresh test data (in the metric's own units: 0.005 is half a point of accuracy), and no
    class's recall falls by more than ``max_class_regression``."""

    min_gain: float = Field(0.005, ge=-1.0, le=1.0, description="the least gain on the selection metric, "
                            "challenger minus production on the fresh test data (a loss: the lower the better, so "
                            "the gain is production's minus the challenger's); negative: 'not worse by more than'")
    max_class_regression: float = Field(0.02, ge=0.0, le=1.0, description="the most any class's recall may fall, "
                                        "production's minus the challenger's (0.02: two points)")
    require_significance: bool = Field(False, description="also require the paired bootstrap interval of the gain "
                                       "to lie above 0 (the gain is not noise)")


class HygieneGate(Strict):
    """What the new data must pass before anything trains on it."""

    max_broken: float = Field(0.01, ge=0.0, le=1.0, description="the largest share of files (rows, records) that "
                              "cannot be read and are left out")
    max_test_leakage: float = Field(0.0, ge=0.0, le=1.0, description="the largest share of the new test samples "
                                    "that may be exact (or near) copies of the new data's train or validation samples")
    production_overlap: Literal["exclude", "fail"] = Field(
        "exclude", description="new test samples the production model trained on (found through its lineage.json): "
        "leave them out of the comparison (exclude), or refuse the data (fail)")
    min_test_samples: int = Field(50, ge=1, description="the fewest fresh test samples the comparison may rest on")
    max_psi: float | None = Field(0.25, gt=0.0, description="the largest population stability index of the new "
                                  "data against the production model's training data (reference.json), per "
                                  "feature or image statistic; 0.1–0.25 is a moderate shift, above 0.25 a major "
                                  "one; null: measure and record, never refuse")


class PipelineSpec(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, description="names the pipeline's runs folder")
    description: str | None = None
    suite: Path = Field(description="the suite YAML to run; relative to the pipeline file")
    data: DatasetSpec = Field(description="the new data, as a suite's dataset: section; it replaces the suite's")
    registry: Path | None = Field(None, description="the model registry; default: $PRACTICA_REGISTRY; "
                                  "relative to the working directory")
    alias: str = Field("production", description="the alias challenged, and moved to the challenger when it wins")
    promotion: PromotionRule = PromotionRule()
    hygiene: HygieneGate = HygieneGate()
    runs_dir: Path = Field(Path("runs/pipelines"), description="where each pipeline run's record goes "
                           "(RUNS_DIR/NAME/RUN_ID); relative to the working directory")

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(f"name '{v}' must start with a letter or digit and use only letters, digits, '-', '_' "
                             "and '.', since it names a folder on disk")
        return v


class Pipeline:
    """A validated pipeline file, with the suite it runs already combined with the new data."""

    def __init__(self, spec: PipelineSpec, suite: Suite, path: Path) -> None:
        self.spec = spec
        self.suite = suite  # the suite as it will run: its dataset is the new data
        self.path = path


def load_pipeline(path: str | Path, *, registry: Path | None = None, runs_dir: Path | None = None) -> Pipeline:
    """Read and check a pipeline file and the suite it names; ``registry`` and ``runs_dir`` (the CLI's options)
    replace the file's. A ConfigError names the key and the fix."""
    path = Path(path)
    raw = read_yaml_file(path, kind="pipeline", max_bytes=MAX_PIPELINE_BYTES,
                         typical="pipelines are a few hundred bytes",
                         example="src/practica/examples/digits_pipeline.yaml")
    return pipeline_from_dict(raw, base_dir=path.parent, origin=str(path), registry=registry, runs_dir=runs_dir,
                              path=path)


def pipeline_from_dict(raw: Any, *, base_dir: Path = Path("."), origin: str = "pipeline",
                       registry: Path | None = None, runs_dir: Path | None = None,
                       path: Path | None = None) -> Pipeline:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a pipeline file is a mapping with keys name, suite, data, registry, "
                          f"promotion...; got {type(raw).__name__}.")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{origin}: schema_version {version!r} is not supported; this practica reads pipeline "
                          f"version {SCHEMA_VERSION}.")
    data = copy.deepcopy(raw)
    _resolve_inputs(data, base_dir)
    if registry is not None:
        data["registry"] = str(registry)
    if runs_dir is not None:
        data["runs_dir"] = str(runs_dir)
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, data, origin).replace("is not a valid suite",
                                                                            "is not a valid pipeline")) from None
    suite = _suite_with_data(spec, origin)
    if suite.dataset.declared_task == "regression":
        raise ConfigError(f"{origin}: data: the new data are a regression set ({suite.dataset.source}); the retrain "
                          "pipeline compares classifiers, overall and per class. Give classification data.")
    return Pipeline(spec, suite, Path(path) if path is not None else base_dir / "pipeline.yaml")


def registry_path(spec: PipelineSpec) -> Path:
    """The registry the pipeline reads and writes: its own, else $PRACTICA_REGISTRY; a ConfigError when neither."""
    from practica.registry import ENV_REGISTRY, registry_dir

    chosen = registry_dir(spec.registry)
    if chosen is not None:
        return chosen
    raise ConfigError(f"no registry: give registry: DIR in the pipeline file, pass --registry DIR, or set "
                      f"{ENV_REGISTRY}.")


def _resolve_inputs(data: dict[str, Any], base_dir: Path) -> None:
    """The suite and the data's files relative to the pipeline file's folder (made absolute here)."""
    def resolve(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base_dir / p).resolve())

    if "suite" in data:
        data["suite"] = resolve(data["suite"])
    dataset = data.get("data")
    for spec in (dataset, dataset.get("test") if isinstance(dataset, dict) else None):
        if isinstance(spec, dict):
            for key in ("path", "labels"):
                if key in spec:
                    spec[key] = resolve(spec[key])


def _suite_with_data(spec: PipelineSpec, origin: str) -> Suite:
    """The suite file, checked as written, then with its dataset replaced by the pipeline's data and checked
    again (the data decides the task, and the suite's settings must suit it)."""
    try:
        suite = load_suite(spec.suite)
    except ConfigError as err:
        raise ConfigError(f"{origin}: suite: {err}") from None
    combined = {**suite.model_dump(mode="json"), "dataset": spec.data.model_dump(mode="json")}
    return suite_from_dict(combined, base_dir=spec.suite.parent, origin=f"{origin} (suite {spec.suite.name} with "
                           "the pipeline's data)")
