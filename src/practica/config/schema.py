"""The suite file, as typed frozen objects. Validated once, at the edge (``load.py``).

Everything below the config layer receives these objects, never raw dicts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from practica.config.base import Strict
from practica.config.layers import AugmentSpec, LayerSpec

SCHEMA_VERSION = 1
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _slug(value: str, what: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{what} '{value}' must start with a letter or digit and use only letters, digits, "
            "'-', '_' and '.', since it names a folder on disk"
        )
    return value


# --------------------------------------------------------------------------- data

DataSource = Literal[
    "digits", "iris", "wine", "breast_cancer",  # scikit-learn's bundled sets: no path, no network
    "cifar10", "cifar100", "mnist", "fashion_mnist",  # well-known sets, downloaded once and cached
    "folder", "npz", "npy", "pixel_csv", "json",  # the user's files
]
BUILTIN_SOURCES = ("digits", "iris", "wine", "breast_cancer")
KNOWN_SOURCES = ("cifar10", "cifar100", "mnist", "fashion_mnist")
FILE_SOURCES = ("folder", "npz", "npy", "pixel_csv", "json")
_PATH_EXAMPLES = {"folder": "data/train", "npz": "data/train.npz", "npy": "data/x.npy",
                  "pixel_csv": "data/train.csv", "json": "data/train.jsonl"}


class SourceSpec(Strict):
    """Where samples come from. ``path`` is relative to the suite file's folder."""

    source: DataSource
    path: Path | None = Field(None, description="the file or folder (for a well-known set: a local copy, instead of downloading)")
    part: Literal["train", "test"] = Field(
        "train", description="which part of a set that has its own train/test parts (well-known sets, train/ test/ folders)"
    )
    image_size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="(height, width) every image is resized to; default: keep, and require one size"
    )
    channels: Literal[1, 3] | None = Field(None, description="convert to grayscale (1) or RGB (3)")

    @model_validator(mode="after")
    def _path_matches_source(self) -> SourceSpec:
        if self.source in BUILTIN_SOURCES and self.path is not None:
            raise ValueError(f"source '{self.source}' is built into scikit-learn and takes no 'path'; remove 'path'")
        if self.source in FILE_SOURCES and self.path is None:
            raise ValueError(f"source '{self.source}' needs a 'path' (for example path: {_PATH_EXAMPLES[self.source]})")
        return self


class SplitSpec(Strict):
    """Stratified, seeded split. ``test`` is used only when the dataset has no fixed test set."""

    val: float = Field(0.1, gt=0.0, lt=1.0)
    test: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 0
    stratify: bool = True

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitSpec:
        if self.val + self.test >= 0.9:
            raise ValueError(
                f"split.val ({self.val}) + split.test ({self.test}) = {self.val + self.test:.2f} leaves "
                "under 10% of the data for training; lower one of them"
            )
        return self


class DatasetSpec(SourceSpec):
    test: SourceSpec | None = Field(None, description="a fixed test set; otherwise split.test of the data")
    split: SplitSpec = SplitSpec()
    max_samples: PositiveInt | None = Field(
        None, description="keep a stratified subset of this many samples (quick runs)"
    )


# ------------------------------------------------------------------------ models

SklearnModel = Literal["logistic_regression", "knn", "naive_bayes", "decision_tree", "random_forest"]


class ModelSpec(Strict):
    """Exactly one of: a layer list, a named architecture, or a scikit-learn baseline."""

    layers: list[LayerSpec] | None = None
    arch: str | None = None
    sklearn: SklearnModel | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="arguments of the arch or estimator")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ModelSpec:
        given = [k for k in ("layers", "arch", "sklearn") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a model needs exactly one of 'layers' (a layer list), 'arch' (a named architecture) "
                f"or 'sklearn' (a baseline); got {', '.join(given) if given else 'none'}"
            )
        if self.layers is not None and self.params:
            raise ValueError("'params' applies to 'arch' and 'sklearn' models; a layer list sets its values per layer")
        if self.layers is not None and not self.layers:
            raise ValueError("'layers' is empty; list at least one layer, e.g. [flatten, {dense: 128}, relu]")
        from practica.models.registry import check_model_params  # lazy: keeps config free of torch

        check_model_params(self)
        return self

    @property
    def kind(self) -> Literal["layers", "arch", "sklearn"]:
        return "layers" if self.layers is not None else "arch" if self.arch is not None else "sklearn"


# ---------------------------------------------------------------------- training


class OptimizerSpec(Strict):
    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: PositiveFloat = 1e-3
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    nesterov: bool = Field(False, description="sgd only, needs momentum > 0")
    weight_decay: NonNegativeFloat = Field(0.0, description="L2 penalty (decoupled for adamw)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam and adamw only")

    @model_validator(mode="after")
    def _options_fit_optimizer(self) -> OptimizerSpec:
        if self.name != "sgd":
            wrong = [k for k in ("momentum", "nesterov") if k in self.model_fields_set]
            if wrong:
                raise ValueError(f"optimizer.{wrong[0]} applies only to sgd, not {self.name}; remove it or use name: sgd")
        elif "betas" in self.model_fields_set:
            raise ValueError("optimizer.betas applies to adam and adamw, not sgd; remove it")
        if self.nesterov and self.momentum == 0:
            raise ValueError("optimizer.nesterov needs momentum > 0; set momentum (e.g. 0.9) or nesterov: false")
        return self

    @model_serializer(mode="wrap")
    def _only_what_applies(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The resolved suite lists every option in force, and none that does not apply.
        data = handler(self)
        drop = ("betas",) if self.name == "sgd" else ("momentum", "nesterov")
        return {k: v for k, v in data.items() if k not in drop}


_SCHEDULE_OPTIONS = {
    "step": {"step_size", "gamma"},
    "onecycle": {"max_lr", "pct_start"},
    "plateau": {"factor", "patience"},
    "cosine": {"warmup_epochs"},
    "constant": {"warmup_epochs"},
}


class ScheduleSpec(Strict):
    """Learning-rate schedule. ``cosine`` and ``onecycle`` step every batch; the others every epoch."""

    name: Literal["constant", "step", "cosine", "onecycle", "plateau"] = "constant"
    warmup_epochs: NonNegativeFloat = Field(0.0, description="linear warm-up (constant, cosine)")
    step_size: PositiveInt = Field(10, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0.0, lt=1.0, description="step: decay factor")
    max_lr: PositiveFloat | None = Field(None, description="onecycle: peak lr; default: optimizer.lr")
    pct_start: float = Field(0.25, gt=0.0, lt=1.0, description="onecycle: share of steps rising")
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="plateau: decay factor")
    patience: PositiveInt = Field(2, description="plateau: epochs without val_loss improvement")
    min_lr: NonNegativeFloat = 0.0

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _options_fit_schedule(self) -> ScheduleSpec:
        foreign = sorted(self.model_fields_set - {"name", "min_lr"} - _SCHEDULE_OPTIONS[self.name])
        if foreign:
            raise ValueError(
                f"schedule.{foreign[0]} does not apply to schedule '{self.name}' "
                f"(its options: {', '.join(sorted(_SCHEDULE_OPTIONS[self.name] | {'min_lr'}))})"
            )
        return self

    @model_serializer(mode="wrap")
    def _only_what_applies(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        keep = _SCHEDULE_OPTIONS[self.name] | {"name", "min_lr"}
        return {k: v for k, v in handler(self).items() if k in keep}


class EarlyStoppingSpec(Strict):
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: PositiveInt = 5
    min_delta: NonNegativeFloat = 0.0
    restore_best: bool = True

    @model_validator(mode="after")
    def _mode_fits_monitor(self) -> EarlyStoppingSpec:
        natural = "min" if self.monitor == "val_loss" else "max"
        if self.mode not in ("auto", natural):
            raise ValueError(
                f"early_stopping.mode '{self.mode}' with monitor '{self.monitor}' would keep the worst epoch; "
                f"use mode: {natural} or auto"
            )
        return self

    @property
    def direction(self) -> Literal["min", "max"]:
        return "min" if self.monitor == "val_loss" else "max"


class TrainSpec(Strict):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    early_stopping: EarlyStoppingSpec | None = None
    grad_clip: PositiveFloat | None = Field(None, description="clip the gradient norm to this value")
    seed: int = 0
    max_samples: PositiveInt | None = Field(
        None, description="train on a stratified subset of this many training samples (slow baselines)"
    )

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _false_means_none(cls, v: Any) -> Any:
        return None if v is False else v

    @model_validator(mode="after")
    def _step_fits_epochs(self) -> TrainSpec:
        if self.schedule.name == "step" and self.schedule.step_size >= self.epochs:
            raise ValueError(
                f"schedule.step_size ({self.schedule.step_size}) >= train.epochs ({self.epochs}): the learning "
                "rate would never step down; lower step_size or use schedule: constant"
            )
        return self


# ----------------------------------------------------------- experiments, policy


class ExperimentSpec(Strict):
    name: str
    description: str | None = None
    model: ModelSpec
    train: TrainSpec = TrainSpec()
    augment: list[AugmentSpec] | None = Field(None, description="overrides the suite's augment; [] turns it off")

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        return _slug(v, "experiment name")


class Constraints(Strict):
    latency_p95_ms: PositiveFloat | None = Field(None, description="batch-1 p95 latency limit")
    size_mb: PositiveFloat | None = None
    params: PositiveInt | None = None


class SelectionSpec(Strict):
    """Choose on validation data: best ``metric``, within ``tolerance`` the cheaper model wins."""

    metric: Literal["val_accuracy", "val_macro_f1", "val_loss"] = "val_accuracy"
    constraints: Constraints = Constraints()
    tolerance: NonNegativeFloat = Field(0.005, description="absolute; within it, prefer the cheaper model")
    prefer: Literal["latency", "size"] = Field("latency", description="what 'cheaper' means")


class DefaultsSpec(Strict):
    train: dict[str, Any] = Field(default_factory=dict, description="merged under every experiment's train")


class EvaluationSpec(Strict):
    latency_samples: PositiveInt = Field(200, description="single-image predictions timed per model")
    throughput_batch: PositiveInt = 256


class DiagnosisSpec(Strict):
    reachable_accuracy: float | None = Field(
        None, gt=0.0, le=1.0, description="accuracy known to be reachable (human level, published); "
        "otherwise the suite's best is the yardstick"
    )


class Suite(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    description: str | None = None
    dataset: DatasetSpec
    augment: list[AugmentSpec] = Field(default_factory=list)
    defaults: DefaultsSpec = DefaultsSpec()
    experiments: list[ExperimentSpec] = Field(min_length=1)
    selection: SelectionSpec = SelectionSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    diagnosis: DiagnosisSpec = DiagnosisSpec()

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        return _slug(v, "suite name")

    @model_validator(mode="after")
    def _names_unique(self) -> Suite:
        seen: set[str] = set()
        for exp in self.experiments:
            if exp.name in seen:
                raise ValueError(f"two experiments are named '{exp.name}'; experiment names must be unique")
            seen.add(exp.name)
        return self

    def augment_for(self, experiment: ExperimentSpec) -> list[AugmentSpec]:
        return list(self.augment if experiment.augment is None else experiment.augment)

    def experiment(self, name: str) -> ExperimentSpec:
        for exp in self.experiments:
            if exp.name == name:
                return exp
        raise KeyError(name)
