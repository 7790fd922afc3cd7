"""The suite file, as typed frozen objects. Validated once, at the edge (``load.py``).

Everything below the config layer receives these objects, never raw dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from practica.config.base import Strict, first_non_finite
from practica.config.layers import AugmentSpec, LayerSpec, check_layers_size
from practica.config.tune import TuneSpec, check_space
from practica.tasks import TASKS, get_task, owner
from practica.tasks.regression import NUMERIC_SOURCES

SCHEMA_VERSION: Final = 1
MAX_SEED = 2**32 - 1  # numpy's seeds are unsigned 32-bit
MAX_LATENCY_SAMPLES = 100_000  # single predictions timed per model: 200 already give a stable p95
MAX_THROUGHPUT_BATCH = 65_536
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _slug(value: str, what: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{what} '{value}' must start with a letter or digit and use only letters, digits, "
            "'-', '_' and '.', since it names a folder on disk"
        )
    return value


def _without_unset(data: dict[str, Any], keys: Collection[str]) -> dict[str, Any]:
    """A model's serialised ``data`` less those of ``keys`` it left unset (None): the resolved suite names the
    options in use, and one written before an optional section existed resolves as it did then (a resumed run
    compares its suite.yaml)."""
    return {k: v for k, v in data.items() if not (k in keys and v is None)}


# --------------------------------------------------------------------------- data

DataSource = Literal[
    "digits", "iris", "wine", "breast_cancer", "diabetes",  # scikit-learn's bundled sets: no path, no network
    "cifar10", "cifar100", "mnist", "fashion_mnist",  # well-known sets, downloaded once and cached
    "folder", "npz", "npy", "pixel_csv", "json", "csv",  # the user's files
    "text",  # the user's texts: a CSV/TSV or JSONL file with a text and a label column, or a folder of .txt files
]
BUILTIN_SOURCES = ("digits", "iris", "wine", "breast_cancer", "diabetes")
KNOWN_SOURCES = ("cifar10", "cifar100", "mnist", "fashion_mnist")
FILE_SOURCES = ("folder", "npz", "npy", "pixel_csv", "json", "csv", "text")
_PATH_EXAMPLES = {"folder": "data/train", "npz": "data/train.npz", "npy": "data/x.npy",
                  "pixel_csv": "data/train.csv", "json": "data/train.jsonl", "csv": "data/table.csv",
                  "text": "data/reviews.csv (or a folder of one sub-folder of .txt files per class)"}
FEATURE_SOURCES = ("iris", "wine", "breast_cancer", "diabetes")  # feature tables: no images
TABLE_SOURCES = ("csv",)  # task auto: the target column's values decide, once loaded
PART_SOURCES = (*KNOWN_SOURCES, "folder", "text")  # sets that may come in train and test parts
# Options that belong to some sources only; anywhere else they are refused, naming their sources.
SOURCE_OPTIONS = {
    "labels": ("npy",),
    "label_column": ("pixel_csv", "text"),
    "text_column": ("text",),
    "encoding": ("text",),
    "max_chars": ("text",),
    "image_shape": ("pixel_csv", "json"),
    "label_names": ("npy", "pixel_csv", "json"),
    "fields": ("json",),
    "target": ("csv",),
    "columns": ("csv",),
}
_OPTION_HINTS = {
    ("label_column", "json"): " (a JSON record's label field is fields: {label: NAME})",
    ("labels", "npz"): " (an .npz file holds its labels as the array 'y')",
    ("labels", "folder"): " (a folder's classes are its sub-folder names)",
    ("fields", "pixel_csv"): " (a pixel CSV's label column is label_column: NAME)",
    ("fields", "text"): " (a text file's columns or JSON fields are text_column: NAME and label_column: NAME)",
    ("target", "text"): " (a text file's label column is label_column: NAME)",
}


class JsonFields(Strict):
    """Which fields of a JSON record hold the sample and its label. Give at most one of ``image``,
    ``pixels`` and ``features``; without one, the first record's keys decide (``image``, ``pixels``,
    ``features``, else its numeric fields)."""

    image: str | None = Field(None, description="the field holding a base64 PNG or JPEG (a data URL is fine)")
    pixels: str | None = Field(None, description="the field holding nested 0–255 pixel values (H×W, H×W×C or flat)")
    features: list[str] | str | None = Field(
        None, description="numeric fields (a list of names), or the one field holding a list of numbers"
    )
    label: str | None = Field(
        None, description="the field holding the label (a class index or a name); default: the first record's "
        "label, class, target or y"
    )

    @model_validator(mode="after")
    def _one_sample_field(self) -> JsonFields:
        given = [k for k in ("image", "pixels", "features") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(
                f"fields.{given[0]} and fields.{given[1]} both name the sample; a record holds an image, "
                "pixels or features: keep one"
            )
        if isinstance(self.features, list):
            if not self.features:
                raise ValueError("fields.features is empty; list the numeric fields, e.g. [sepal_length, sepal_width]")
            twice = sorted({f for f in self.features if self.features.count(f) > 1})
            if twice:
                raise ValueError(f"fields.features names {twice[0]!r} twice; name each feature once")
        used = self.features if isinstance(self.features, list) else [self.image, self.pixels, self.features]
        if self.label is not None and self.label in used:
            raise ValueError(f"fields.label {self.label!r} is also a sample field; "
                             "the label must be a field of its own")
        return self

    @model_serializer(mode="wrap")
    def _only_fields_named(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class SourceSpec(Strict):
    """Where samples come from. ``path`` is relative to the suite file's folder."""

    source: DataSource
    path: Path | None = Field(
        None, description="the file or folder (for a well-known set: a local copy, instead of downloading)"
    )
    part: Literal["train", "test"] = Field(
        "train",
        description="which part of a set that has its own train/test parts (well-known sets, train/ test/ folders)",
    )
    image_size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="(height, width) every image is resized to; default: keep, and require one size"
    )
    channels: Literal[1, 3] | None = Field(None, description="convert to grayscale (1) or RGB (3)")
    labels: Path | None = Field(None, description="npy: the .npy file of labels, one per sample of 'path'")
    label_column: str | None = Field(
        None, description="pixel_csv: the label column's name; default: the one named label, class, target or y. "
        "text: the label column (or JSON field); default: the one named label, class, target, y, sentiment or category"
    )
    text_column: str | None = Field(
        None, description="text: the column (or JSON field) holding the text; default: the one named text, review, "
        "sentence, content or body"
    )
    encoding: str | None = Field(
        None, description="text: the files' encoding; default auto: UTF-8 (with or without a byte-order mark), and "
        "Latin-1 for a file that is not UTF-8 (with a note naming it); any other name (utf-16, cp1252) is used as given"
    )
    max_chars: PositiveInt | None = Field(
        None, description="text: texts longer than this many characters are skipped and listed (default 100,000)"
    )
    image_shape: tuple[PositiveInt, PositiveInt, Literal[1, 3]] | None = Field(
        None, description="pixel_csv, json: [height, width, channels] of a flat row of pixel values; default: "
        "square, inferred from the count (784 → 28×28×1, 3072 → 32×32×3)"
    )
    label_names: dict[NonNegativeInt, str] | None = Field(
        None, description="npy, pixel_csv, json: class name of each numeric label, e.g. {0: A, 1: B}"
    )
    fields: JsonFields | None = Field(None, description="json: which record fields hold the sample and the label")
    target: str | None = Field(
        None, description="csv: the column to predict; default: the one named target, label, class, y or species"
    )
    columns: dict[str, Literal["numeric", "categorical", "ignore"]] | None = Field(
        None, description="csv: the kind of some columns, e.g. {island: categorical, id: ignore}; the others are "
        "inferred (numbers: numeric, text: categorical)"
    )

    @field_validator("label_names", mode="before")
    @classmethod
    def _list_of_names(cls, v: Any) -> Any:
        return dict(enumerate(v)) if isinstance(v, list) else v

    @field_validator("label_names")
    @classmethod
    def _names_unique(cls, v: dict[int, str] | None) -> dict[int, str] | None:
        if v is not None:
            if not v:
                raise ValueError("label_names is empty; map each label to its name, e.g. {0: cat, 1: dog}")
            blank = next((k for k, name in v.items() if not name.strip()), None)
            if blank is not None:
                raise ValueError(f"label_names gives label {blank} an empty name; name every class")
            names = list(v.values())
            twice = next((n for n in names if names.count(n) > 1), None)
            if twice is not None:
                raise ValueError(f"label_names gives the name {twice!r} to two labels; class names must be unique")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is not None and v != "auto":
            import codecs

            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"encoding {v!r} is not one Python knows; use auto (UTF-8, else Latin-1), utf-8, "
                                 "latin-1, cp1252, utf-16 or another codec name") from None
        return v

    @model_validator(mode="after")
    def _path_matches_source(self) -> SourceSpec:
        if self.source in BUILTIN_SOURCES and self.path is not None:
            raise ValueError(f"source '{self.source}' is built into scikit-learn and takes no 'path'; remove 'path'")
        if self.source in FILE_SOURCES and self.path is None:
            raise ValueError(f"source '{self.source}' needs a 'path' (for example path: {_PATH_EXAMPLES[self.source]})")
        return self

    @model_validator(mode="after")
    def _options_match_source(self) -> SourceSpec:
        for key, sources in SOURCE_OPTIONS.items():
            if getattr(self, key) is not None and self.source not in sources:
                owners = " and ".join(f"'{s}'" for s in sources)
                hint = _OPTION_HINTS.get((key, self.source), "")
                raise ValueError(
                    f"'{key}' applies to source {owners} only, not '{self.source}'{hint}; remove it"
                )
        if self.source == "npy" and self.labels is None:
            raise ValueError(
                "source 'npy' needs 'labels', the .npy file of labels beside 'path' (for example labels: data/y.npy)"
            )
        if self.part == "test" and self.source not in PART_SOURCES:
            raise ValueError(
                f"part: test applies to sets that come in train and test parts (a well-known set, or a folder "
                f"holding train/ and test/), not source '{self.source}'; point 'path' at the test data instead"
            )
        if self.source == "text":
            wrong = next((k for k in ("image_size", "channels") if getattr(self, k) is not None), None)
            if wrong:
                raise ValueError(f"source 'text' holds texts, not images; '{wrong}' applies to images only; remove "
                                 "it (a text model's length is model.tokenizer.max_length)")
        if self.source in FEATURE_SOURCES:
            wrong = next((k for k in ("image_size", "channels") if getattr(self, k) is not None), None)
            if wrong:
                raise ValueError(
                    f"source '{self.source}' is a table of numeric features, not images; '{wrong}' applies to "
                    "images only; remove it"
                )
        return self

    @model_serializer(mode="wrap")
    def _only_options_in_use(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The resolved suite shows a source's own options, not every other source's empty ones.
        return _without_unset(handler(self), SOURCE_OPTIONS)


class SplitSpec(Strict):
    """Stratified, seeded split. ``test`` is used only when the dataset has no fixed test set."""

    val: float = Field(0.1, gt=0.0, lt=1.0)
    test: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0, le=MAX_SEED, description="any whole number from 0 to 2**32 - 1")
    stratify: bool = True
    cv_folds: int | None = Field(
        None, ge=2, le=20, description="also score the scikit-learn baselines by k-fold cross-validation on "
        "train+val (group-aware, stratified, seeded): mean ± std over the folds; for small sets"
    )

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitSpec:
        if self.val + self.test >= 0.9:
            raise ValueError(
                f"split.val ({self.val}) + split.test ({self.test}) = {self.val + self.test:.2f} leaves "
                "under 10% of the data for training; lower one of them"
            )
        return self


class CleanSpec(Strict):
    """What happens to duplicates, conflicting labels and test leaks, after loading and before the
    split. Every sample dropped or kept is recorded with its reason (data/lineage.json), and
    duplicate groups (exact, and near at ``near_distance``) always stay on one side of every split.

    ``max_drop`` guards against silent loss: when the rules together would drop more than this
    fraction of the data, or of any one class, the run stops before training with an error naming
    the counts per rule and the class hit hardest (1.0 allows any drop). The default, 5%, lets a
    clean set's real copies and test leaks go (Fashion-MNIST loses about 1% of its training set,
    2.3% of one class) and stops a check that misfires on a whole class."""

    duplicates: Literal["keep", "drop_exact", "drop_near"] = Field(
        "drop_exact", description="keep every copy; keep one of each set of identical samples with one label "
        "(drop_exact); or also drop a sample that near-duplicates one kept, with its label (drop_near)"
    )
    conflicting_labels: Literal["keep", "drop"] = Field(
        "drop", description="identical samples (near duplicates too, with drop_near) labelled differently: "
        "drop all of them, or keep one per label"
    )
    near_distance: int | None = Field(
        6, ge=0, le=32, description="perceptual-hash Hamming distance (of 64 bits) at or below which two "
        "images are near duplicates; null: exact duplicates only (feature tables always are). Texts are near "
        "duplicates at a word-bigram Jaccard similarity of 0.7 or more whatever the number; null turns that off"
    )
    leaks: Literal["keep", "drop"] = Field(
        "drop", description="samples that near-duplicate a fixed test set's sample: drop them from the data, or keep"
    )
    missing: Literal["impute", "drop_rows"] = Field(
        "impute", description="feature tables with missing values (NaN): keep the rows and let the model's "
        "preprocessing impute them (medians, a missing category, fitted on the training split), or drop every "
        "row with a missing value"
    )
    max_drop: float = Field(
        0.05, ge=0, le=1, description="the largest share of the data, and of each class, that the rules above may "
        "drop; beyond it the run stops before training and says what would go (1.0: any share)"
    )

    @model_validator(mode="after")
    def _near_needs_distance(self) -> CleanSpec:
        if self.duplicates == "drop_near" and self.near_distance is None:
            raise ValueError("clean.duplicates: drop_near needs clean.near_distance (e.g. 6); or use drop_exact")
        return self


class DatasetSpec(SourceSpec):
    test: SourceSpec | None = Field(None, description="a fixed test set; otherwise split.test of the data")
    split: SplitSpec = SplitSpec()
    clean: CleanSpec = CleanSpec()
    max_samples: PositiveInt | None = Field(
        None, description="keep a stratified subset of this many samples (quick runs)"
    )
    memmap: Literal["auto"] | bool = Field(
        "auto", description="keep the decoded samples in memory-mapped files of the data cache, read a batch at "
        "a time, for sets bigger than memory (true); in memory (false); auto: mapped when they would take over a "
        "quarter of the memory available"
    )
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="what the target is: classes (classification) or a number (regression); auto: "
        "regression for a regression set (diabetes) and for a table whose target holds non-integer numbers, "
        "classification otherwise"
    )

    @model_validator(mode="after")
    def _task_fits_source(self) -> DatasetSpec:
        if self.task != "auto":
            get_task(self.task).check_source(self.source)
        return self

    @model_validator(mode="after")
    def _texts_in_memory(self) -> DatasetSpec:
        if self.source == "text" and self.memmap is True:
            raise ValueError("dataset.memmap: true does not apply to source 'text': texts are strings of many "
                             "lengths, kept in memory (a million reviews take about a gigabyte); remove memmap "
                             "or set it to auto or false")
        return self

    @property
    def declared_task(self) -> Literal["classification", "regression"] | None:
        """The task as far as the suite alone tells it; None when only the data can (a table's target, auto)."""
        if self.task != "auto":
            return self.task
        if self.source in NUMERIC_SOURCES:  # sets whose target is a number: task auto means regression
            return "regression"
        return None if self.source in TABLE_SOURCES else "classification"


# ------------------------------------------------------------------------ models

SklearnModel = Literal[
    "logistic_regression", "knn", "naive_bayes", "decision_tree", "random_forest",
    "linear_regression", "ridge",  # regression only
]


# Architecture and estimator names and their params are the model stage's to check: config does not
# import it (it imports config). ``practica.models`` registers ``models.registry.check_model_params``
# here when imported, and importing ``practica`` imports it, so every ModelSpec is checked.
MODEL_CHECKS: list[Callable[[ModelSpec], None]] = []


def register_model_check(check: Callable[[ModelSpec], None]) -> None:
    """Run ``check`` on every ModelSpec validated from now on; it raises ``ValueError`` for a bad spec."""
    if check not in MODEL_CHECKS:
        MODEL_CHECKS.append(check)


class FeaturesSpec(Strict):
    """A pretrained network's penultimate features as a baseline's input: the network (a run's experiment or a
    bundle) is run frozen, in evaluation mode, and the baseline is fitted on what its last layer receives."""

    source: str = Field(alias="from", min_length=1, description="RUN_DIR#EXPERIMENT or a bundle folder; relative "
                        "to the suite file")

    @model_serializer(mode="wrap")
    def _key_as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {"from": handler(self)["source"]}


class UnfreezeSpec(Strict):
    """The second phase of a frozen fine-tune: after ``after_epochs`` epochs every frozen layer trains too, at
    the optimizer's learning rate × ``lr_factor`` (discriminative rates: the backbone moves less than the head)."""

    after_epochs: PositiveInt = Field(description="epochs with the frozen layers frozen, before they train too")
    lr_factor: float = Field(0.1, gt=0.0, le=1.0, description="the unfrozen layers' learning rate as a share of "
                             "the optimizer's (and of the schedule's, step by step); the head keeps the full rate")


class PretrainedSpec(Strict):
    """Start from another model's weights (transfer learning): ``from`` names a practica run's experiment
    (``runs/SUITE/RUN_ID#EXPERIMENT``; ``runs/SUITE#EXPERIMENT``: the newest finished run), a bundle folder,
    or a weights file (``.safetensors``, or a PyTorch state dict ``.pt``/``.pth``, read with
    ``weights_only=True``) for the same architecture. The weights are
    read when the experiment trains; the trained model keeps them in its own weights, so its bundle needs no
    backbone file."""

    source: str = Field(alias="from", min_length=1, description="RUN_DIR#EXPERIMENT, a bundle folder, or a "
                        ".safetensors / .pt file; relative to the suite file")
    head: Literal["new", "keep"] = Field(
        "new", description="new: a freshly initialised last layer for this data's classes; keep: the backbone's "
        "own (its class count must match)"
    )
    freeze: str = Field(
        "none", min_length=1, description="none; all (every layer but the head); or a layer's name (it and "
        "every layer before it); frozen layers keep their weights and batch-norm statistics"
    )
    unfreeze: UnfreezeSpec | None = Field(
        None, description="{after_epochs: N, lr_factor: 0.1}: after N epochs the frozen layers train too, at a "
        "lower learning rate"
    )
    input_shape: tuple[Literal[1, 3], PositiveInt, PositiveInt] | None = Field(
        None, description="[channels, height, width] of the images the backbone was trained on; read from a run "
        "or a bundle, declared for a weights file to have the data checked against it"
    )

    @field_validator("freeze", mode="before")
    @classmethod
    def _layer_number_as_name(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _phases_make_sense(self) -> PretrainedSpec:
        if self.unfreeze is not None and self.freeze == "none":
            raise ValueError("pretrained.unfreeze needs pretrained.freeze (all, or a layer's name): with nothing "
                             "frozen there is nothing to unfreeze; add freeze: all or remove unfreeze")
        if self.head == "keep" and self.freeze == "all" and self.unfreeze is None:
            raise ValueError("pretrained.head: keep with freeze: all leaves nothing to train; use head: new, "
                             "or add unfreeze: {after_epochs: N}")
        return self

    @model_serializer(mode="wrap")
    def _key_as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The resolved suite says 'from', as the user wrote it, so that it validates again.
        data = handler(self)
        return {"from": data.pop("source"), **{k: v for k, v in data.items() if v is not None}}

    @property
    def frozen(self) -> bool:
        return self.freeze != "none"


MAX_VOCAB = 200_000
MAX_SEQUENCE = 4_096


class TokenizerSpec(Strict):
    """How a text model turns a text into tokens: fitted on the training split only, saved with the model,
    and applied in front of it by ``practica predict`` and the server (``data/tokenizer.py``)."""

    kind: Literal["char", "word", "subword"] = Field(
        "word", description="characters, words (and punctuation marks), or subwords (byte-pair encoding)"
    )
    vocab_size: Literal["auto"] | Annotated[int, Field(ge=4, le=MAX_VOCAB)] = Field(
        "auto", description="tokens kept, the most frequent first; auto: every token seen twice in training "
        "(up to 30,000 words, 1,000 characters), 8,000 subwords"
    )
    max_length: Literal["auto"] | Annotated[int, Field(ge=1, le=MAX_SEQUENCE)] = Field(
        "auto", description="tokens per text a network reads (longer ones are cut); auto: the 95th percentile of "
        "the training texts' lengths"
    )
    lowercase: bool = Field(True, description="lowercase before tokenising")


class ModelSpec(Strict):
    """Exactly one of: a layer list, a named architecture, or a scikit-learn baseline. A network may start
    from ``pretrained`` weights; a baseline may be fitted on ``features``, a pretrained network's penultimate
    layer (the frozen-features baseline of transfer learning)."""

    layers: list[LayerSpec] | None = None
    arch: str | None = None
    sklearn: SklearnModel | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="arguments of the arch or estimator")
    pretrained: PretrainedSpec | None = Field(
        None, description="networks: start from another model's weights, {from: RUN_DIR#EXPERIMENT | BUNDLE | "
        "FILE, head: new, freeze: all, unfreeze: {after_epochs: N, lr_factor: 0.1}}"
    )
    features: FeaturesSpec | None = Field(
        None, description="sklearn baselines: fit on a pretrained network's penultimate features, {from: "
        "RUN_DIR#EXPERIMENT | BUNDLE}, instead of raw pixels"
    )
    tokenizer: TokenizerSpec | None = Field(
        None, description="text data: how texts become tokens, {kind: word | char | subword, vocab_size, "
        "max_length}; default: words, sizes chosen from the training split"
    )

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
        bad = first_non_finite(self.params, "params")
        if bad is not None:
            raise ValueError(f"{bad} is not a finite number (NaN or infinity); give a finite number")
        if self.layers is not None:
            check_layers_size(self.layers)
        if self.pretrained is not None and self.sklearn is not None:
            raise ValueError("'pretrained' applies to networks (layers or arch); a scikit-learn baseline on a "
                             "network's features takes features: {from: ...}")
        if self.features is not None and self.sklearn is None:
            raise ValueError("'features' applies to scikit-learn baselines; a network starts from another's "
                             "weights with pretrained: {from: ...}")
        for check in MODEL_CHECKS:
            check(self)
        return self

    @property
    def kind(self) -> Literal["layers", "arch", "sklearn"]:
        return "layers" if self.layers is not None else "arch" if self.arch is not None else "sklearn"

    @model_serializer(mode="wrap")
    def _transfer_keys_in_use(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Suites without transfer resolve as before (a resumed run compares its suite.yaml).
        return _without_unset(handler(self), ("pretrained", "features", "tokenizer"))

    def standalone(self) -> ModelSpec:
        """This spec without where its starting weights or features came from: what rebuilds the trained
        model from its own weights (a run's model meta, a bundle's card), which then names no other file."""
        return self.model_copy(update={"pretrained": None})


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
                raise ValueError(f"optimizer.{wrong[0]} applies only to sgd, not {self.name}; "
                                 "remove it or use name: sgd")
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
    "triangle": {"max_lr", "pct_start", "start_factor"},
    "plateau": {"factor", "patience"},
    "cosine": {"warmup_epochs"},
    "constant": {"warmup_epochs"},
}


class ScheduleSpec(Strict):
    """Learning-rate schedule. ``cosine``, ``onecycle`` and ``triangle`` step every batch; the others every epoch."""

    name: Literal["constant", "step", "cosine", "onecycle", "triangle", "plateau"] = "constant"
    warmup_epochs: NonNegativeFloat = Field(0.0, description="linear warm-up (constant, cosine)")
    step_size: PositiveInt = Field(10, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0.0, lt=1.0, description="step: decay factor")
    max_lr: PositiveFloat | None = Field(None, description="onecycle, triangle: peak lr; default: optimizer.lr")
    pct_start: float = Field(0.25, gt=0.0, lt=1.0, description="onecycle, triangle: share of steps rising")
    start_factor: float = Field(
        0.2, ge=0.0, le=1.0, description="triangle: the first step's lr as a share of the peak (then linear up "
        "to the peak and linear down to 0)"
    )
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
    monitor: Literal["val_loss", "val_accuracy", "val_r2"] = Field(
        "val_loss", description="val_loss for either task; val_accuracy for classification, val_r2 for regression"
    )
    mode: Literal["auto", "min", "max"] = "auto"
    patience: PositiveInt = 5
    min_delta: NonNegativeFloat = 0.0
    restore_best: bool = True

    @model_validator(mode="after")
    def _mode_fits_monitor(self) -> EarlyStoppingSpec:
        natural = self.direction
        if self.mode not in ("auto", natural):
            raise ValueError(
                f"early_stopping.mode '{self.mode}' with monitor '{self.monitor}' would keep the worst epoch; "
                f"use mode: {natural} or auto"
            )
        return self

    @property
    def direction(self) -> Literal["min", "max"]:
        task = owner(self.monitor)
        return "max" if task is not None and task.metric(self.monitor).higher_is_better else "min"


class LookaheadSpec(Strict):
    """Every ``every`` steps, the weights are set to their running average, whose weight on the past
    grows over training to ``decay ** every``; training ends on the average (``training/lookahead.py``)."""

    every: PositiveInt = Field(5, description="optimizer steps between two pulls toward the average")
    decay: float = Field(0.95, gt=0.0, lt=1.0, description="the average's per-step weight on its past, at the end")


class TrainSpec(Strict):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    early_stopping: EarlyStoppingSpec | None = None
    grad_clip: PositiveFloat | None = Field(None, description="clip the gradient norm to this value")
    lookahead: LookaheadSpec | None = Field(
        None, description="true or {every, decay}: pull the weights toward their running average every few steps, "
        "more strongly as training ends, and end on it (hlb-CIFAR10, airbench)"
    )
    class_weight: Literal["balanced"] | None = Field(
        None, description="balanced: weight each class's loss by n / (classes × its training count); "
        "scikit-learn baselines get class_weight='balanced' (or balanced sample weights) where they take it"
    )
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32", description="bf16: the forward pass and loss under bfloat16 autocast, images channels-last "
        "(weights, optimizer and evaluation stay fp32); auto: on a CPU with bf16 arithmetic (AMX, AVX-512 BF16), a few "
        "training steps of the network timed both ways, bf16 only when at least 1.10x as fast; fp32 on a CPU without; "
        "bf16 on a CUDA GPU with it"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="any whole number from 0 to 2**32 - 1")
    max_samples: PositiveInt | None = Field(
        None, description="train on a stratified subset of this many training samples (slow baselines)"
    )

    @field_validator("early_stopping", "lookahead", mode="before")
    @classmethod
    def _false_means_none(cls, v: Any) -> Any:
        return None if v is False else v

    @field_validator("lookahead", mode="before")
    @classmethod
    def _true_means_defaults(cls, v: Any) -> Any:
        return {} if v is True else v

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
    tune: TuneSpec | None = Field(
        None, description="a search space over this experiment's fields, a budget and an objective, for "
        "`practica tune` (docs/tuning.md); `practica run` trains the experiment as declared"
    )

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        return _slug(v, "experiment name")

    @model_serializer(mode="wrap")
    def _tune_only_when_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Experiments without a tune block resolve as before (a resumed run compares its suite.yaml).
        return _without_unset(handler(self), ("tune",))

    @model_validator(mode="after")
    def _unfreeze_within_epochs(self) -> ExperimentSpec:
        pretrained = self.model.pretrained
        unfreeze = pretrained.unfreeze if pretrained is not None else None
        if unfreeze is not None and unfreeze.after_epochs >= self.train.epochs:
            raise ValueError(
                f"model.pretrained.unfreeze.after_epochs ({unfreeze.after_epochs}) >= train.epochs "
                f"({self.train.epochs}): the frozen layers would never train; lower after_epochs or raise epochs"
            )
        return self


class Constraints(Strict):
    latency_p95_ms: PositiveFloat | None = Field(None, description="batch-1 p95 latency limit")
    size_mb: PositiveFloat | None = None
    params: PositiveInt | None = None


SelectionMetric = Literal["val_accuracy", "val_macro_f1", "val_loss", "val_r2", "val_rmse", "val_mae"]


class ThresholdSpec(Strict):
    """A two-class model's decision threshold, chosen on the validation split for a declared target: the
    positive class is predicted when its probability reaches the threshold that meets ``metric >= at_least``
    with the best other metric (recall ≥ 0.95 with the highest precision). Absent: the most probable class."""

    positive: str = Field(min_length=1, description="the class the target is about, e.g. malignant")
    metric: Literal["recall", "precision"] = Field(description="the positive class's figure the target bounds")
    at_least: float = Field(gt=0.0, le=1.0, description="the target, e.g. 0.95")

    def check_classes(self, classes: tuple[str, ...]) -> None:
        """Raise ValueError unless the data has two classes, one of them ``positive``."""
        if len(classes) != 2:
            raise ValueError(
                f"selection.threshold applies to two classes, but the data has {len(classes)} "
                f"({', '.join(classes[:6])}{', …' if len(classes) > 6 else ''}); remove selection.threshold "
                "(each prediction is then the most probable class)"
            )
        if self.positive not in classes:
            raise ValueError(
                f"selection.threshold.positive '{self.positive}' is not a class of the data; its classes are "
                f"{' and '.join(repr(c) for c in classes)}"
            )


class SelectionSpec(Strict):
    """Choose on validation data: best ``metric``, within ``tolerance`` the cheaper model wins; both
    compared with their confidence intervals (``evaluation.confidence``), so a difference inside the
    noise is a tie."""

    metric: SelectionMetric | None = Field(
        None, description="default: val_accuracy for classification, val_r2 for regression; val_loss suits both"
    )
    constraints: Constraints = Constraints()
    tolerance: NonNegativeFloat = Field(0.005, description="absolute; within it, prefer the cheaper model")
    prefer: Literal["latency", "size"] = Field("latency", description="what 'cheaper' means")
    latency_margin: float = Field(
        0.1, ge=0.0, le=1.0, description="'cheaper' in latency: a median (p50) at least this share lower, and "
        "its interval clear of the other's; a smaller difference is a tie"
    )
    threshold: ThresholdSpec | None = Field(
        None, description="two classes only: {positive: CLASS, metric: recall | precision, at_least: 0.95}, a "
        "decision threshold chosen on validation for the chosen model and carried into its bundle"
    )
    slice_floors: dict[str, float] = Field(
        default_factory=dict, description="per slice name ('*': every slice), the worst slice metric a model "
        "may show on validation (a minimum, or a maximum for a lower-is-better metric such as MAE)"
    )

    def for_task(self, task: str) -> SelectionSpec:
        """This policy with its metric resolved for ``task``: the one place a default metric is chosen (the
        task's ``default_metric``); a metric the task lacks raises ValueError."""
        metric = get_task(task).metric(self.metric).name
        return self if metric == self.metric else self.model_copy(update={"metric": metric})


class DefaultsSpec(Strict):
    train: dict[str, Any] = Field(default_factory=dict, description="merged under every experiment's train")


class SliceSpec(Strict):
    """A declared slice family (``evaluation.slices``), exactly one of: ``folder_level`` (the k-th folder
    above each file, 1 the one holding it: one slice per folder name), ``pattern`` (a regex searched in
    each sample's source path: one slice of the matches, or one per value of its first group), ``tags``
    (a CSV of ``source,tag`` rows: one slice per tag), ``column`` (a table's feature column: one slice per
    category, or per quartile of a number). ``name`` prefixes the slices' names."""

    name: str | None = Field(None, min_length=1, max_length=60)
    folder_level: PositiveInt | None = Field(None, le=64)
    pattern: str | None = Field(None, min_length=1, max_length=500)
    tags: str | None = Field(None, description="a CSV file of source,tag rows; relative to the suite file")
    column: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> SliceSpec:
        given = [k for k in SLICE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            got = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"a slice takes exactly one of {', '.join(SLICE_KINDS)} ({got}); e.g. "
                             "{folder_level: 1}, {pattern: 'night'}, {tags: tags.csv} or {column: sex}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {err}. "
                                 "Escape special characters with a backslash, e.g. '\\.png$'") from None
        return self

    @property
    def kind(self) -> str:
        return next(k for k in SLICE_KINDS if getattr(self, k) is not None)


SLICE_KINDS = ("folder_level", "pattern", "tags", "column")
MAX_DECLARED_SLICES = 32


class EvaluationSpec(Strict):
    latency_samples: PositiveInt = Field(
        200, le=MAX_LATENCY_SAMPLES, description="single-sample predictions timed per model, at least (more until "
        "latency_precision is reached, within latency_budget_s)"
    )
    throughput_batch: PositiveInt = Field(256, le=MAX_THROUGHPUT_BATCH)
    latency_precision: float = Field(
        0.05, gt=0.0, le=0.5, description="time each model until its median latency's interval is within this "
        "share of the median (or the budget is spent)"
    )
    latency_budget_s: PositiveFloat = Field(
        3.0, le=600.0, description="seconds of timed single-sample calls per model, at most"
    )
    confidence: float = Field(0.95, ge=0.5, lt=1.0, description="level of every interval (metrics and latency)")
    bootstrap_resamples: int = Field(
        1000, ge=100, le=100_000, description="resamples of the validation samples for the metrics' intervals"
    )
    slices: list[SliceSpec] = Field(default_factory=list, max_length=MAX_DECLARED_SLICES,
                                    description="slices declared beside the automatic ones (per class, ...)")
    min_slice_samples: PositiveInt = Field(
        20, description="validation samples a slice needs for a selection floor to apply to it"
    )
    human_level: float | dict[str, float] | None = Field(
        None, description="the slice metric a human (or a published figure) reaches: one number for every "
        "slice, or per slice name ('*' for the others); the 'what to work on' reference instead of the best model"
    )


class DiagnosisSpec(Strict):
    reachable_accuracy: float | None = Field(
        None, gt=0.0, le=1.0, description="accuracy known to be reachable (human level, published); "
        "otherwise the suite's best is the yardstick"
    )


# ------------------------------------------------------------------ tracking


class MlflowSpec(Strict):
    """Where the run is logged in MLflow: the suite run is an MLflow experiment, each of its experiments a run."""

    uri: str | None = Field(None, description="tracking URI; default: sqlite:///<runs dir>/mlflow.db, a local "
                                              "store whose registry keeps the chosen model")
    experiment: str | None = Field(None, description="the MLflow experiment's name; default '<suite>/<run id>', "
                                                     "one per practica run")
    model_name: str | None = Field(None, min_length=1, description="the registered model the chosen bundle becomes "
                                                                   "a version of; default: the suite's name")


class TensorboardSpec(Strict):
    logdir: Path | None = Field(None, description="event files go to <logdir>/<run id>/<experiment>; default: "
                                                  "<runs dir>/tensorboard; relative to the working directory")


class TrackingSpec(Strict):
    """Optional logging to MLflow and TensorBoard (``pip install 'practica[tracking]'``); ``true`` for the defaults."""

    mlflow: MlflowSpec | None = None
    tensorboard: TensorboardSpec | None = None

    @field_validator("mlflow", "tensorboard", mode="before")
    @classmethod
    def _true_means_defaults(cls, v: Any) -> Any:
        return {} if v is True else None if v is False else v

    @property
    def enabled(self) -> bool:
        return self.mlflow is not None or self.tensorboard is not None


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
    tracking: TrackingSpec = TrackingSpec()

    @model_serializer(mode="wrap")
    def _tracking_only_when_on(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A suite without tracking resolves as it did before the section existed: its runs still resume.
        out = handler(self)
        return out if self.tracking.enabled else {k: v for k, v in out.items() if k != "tracking"}

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        return _slug(v, "suite name")

    @model_validator(mode="before")
    @classmethod
    def _default_metric(cls, data: Any) -> Any:
        # The resolved suite names the metric in force, when the suite alone tells the task.
        if not isinstance(data, dict):
            return data
        selection = data.get("selection") or {}
        if isinstance(selection, dict) and selection.get("metric") is None:
            try:
                task = DatasetSpec.model_validate(data.get("dataset")).declared_task
            except (ValueError, TypeError):
                return data  # the dataset's own error is reported by the field's validation
            if task is not None:
                data = {**data, "selection": {**selection, "metric": get_task(task).default_metric}}
        return data

    @model_validator(mode="after")
    def _settings_fit_task(self) -> Suite:
        task = self.dataset.declared_task
        if task is not None:
            check_task(self, task)
        return self

    @model_validator(mode="after")
    def _tune_spaces_fit(self) -> Suite:
        # Here, not on the experiment: a space over augment starts from the suite's list.
        for i, exp in enumerate(self.experiments):
            if exp.tune is not None:
                try:
                    check_space(exp, list(self.augment))
                except ValueError as err:
                    raise ValueError(f"experiments[{i}] ({exp.name}).tune.space: {err}") from None
        return self

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


# ------------------------------------------------------------------ task checks


def check_task(suite: Suite, task_name: str) -> None:
    """Every setting that suits only one task, checked against the task ``task_name`` (raises ValueError
    naming the field and the fix). Run on the suite when it tells its task, and again on the data's
    resolved task. The metrics are checked here against the task's registry; the rest is the task's."""
    task = get_task(task_name)
    why = f"the task is {task.name}" + (f" (dataset.task: {task.name})" if task.name == suite.dataset.task else
                                        f" (source '{suite.dataset.source}', dataset.task: auto)")
    shared = [n for n in task.metric_names if all(n in t.metric_names for t in TASKS.values())]
    own = [n for n in task.metric_names if n not in shared]
    metric = suite.selection.metric
    if metric is not None and metric not in task.metric_names:
        raise ValueError(
            f"selection.metric '{metric}' is a {_owner_name(metric)} metric, but {why}; use one of {', '.join(own)} "
            f"or {', '.join(shared)} (or leave it out: the default is {task.default_metric})"
        )
    for i, exp in enumerate(suite.experiments):
        monitor = exp.train.early_stopping.monitor if exp.train.early_stopping else None
        if monitor is not None and monitor not in task.metric_names:
            raise ValueError(
                f"experiments[{i}] ({exp.name}).train.early_stopping.monitor '{monitor}' is a "
                f"{_owner_name(monitor)} metric, but {why}; use {', '.join(shared)} or {task.default_metric}"
            )
        objective = exp.tune.objectives(task.default_metric)[0] if exp.tune is not None else None
        if objective is not None and objective not in task.metric_names:
            raise ValueError(
                f"experiments[{i}] ({exp.name}).tune.objective '{objective}' is not a {task.name} metric ({why}); "
                f"use one of {', '.join(task.metric_names)}"
            )
    task.check_settings(suite, why)


def _owner_name(metric: str) -> str:
    task = owner(metric)
    return task.name if task is not None else "unknown"
