"""The schema of a bundle's card (``bundle.json``): the fields that loading, ``practica predict`` and
``practica serve`` rely on, validated once when the bundle is opened (``load.load_bundle``).

The card also carries descriptive fields (metrics, lineage, selection, diagnosis, ...) that only
people and the service's page read; they are kept as they are (``extra="allow"``), so a card stays
servable as written. What is checked is what code reads: an invalid card is refused with the field
it is about, never left to fail later as a ``KeyError`` or an out-of-memory kill.

Whether the card matches the ONNX model itself (input shape, number of outputs) is checked when
ONNX Runtime opens the model (``Bundle.session``): that needs the model's signature.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from practica.tasks import get_task

# Bounds on the model input a card may declare. A 4096×4096×3 image is 48 MiB a sample, beyond any
# model practica trains, and still small enough to allocate; an unbounded shape is an allocation of
# whatever size the card says the moment the service warms up or ``predict`` sizes its batches.
MAX_IMAGE_SIDE = 4096
IMAGE_CHANNELS = (1, 3)
MAX_FEATURES = 100_000
MAX_TEXT_LENGTH = 100_000  # tokens a text model reads (its tokenizer's max_length)
MAX_VOCABULARY = 10_000_000
ONNX_DTYPES = {"image": "uint8", "features": "float32", "ids": "int64", "counts": "float32"}

Name = Annotated[str, StringConstraints(min_length=1)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class CardInput(_Part):
    kind: Literal["image", "features", "text"]
    shape: tuple[Annotated[int, Field(strict=True, ge=1)], ...]  # (H, W, C) images, (F,) features, (L,) texts
    feature_names: tuple[str, ...] = ()
    table: dict[str, Any] | None = None  # a CSV table's columns (data/sources/tabular.py ``TABLE_SCHEMA``)
    # texts: what the ONNX model takes (a network's token ids, a baseline's token counts), and the vocabulary
    text_input: Literal["ids", "counts"] | None = None
    vocab_size: Annotated[int, Field(strict=True, ge=2)] | None = None
    onnx_name: Name
    onnx_dtype: Literal["uint8", "float32", "int64"]

    @property
    def model_shape(self) -> tuple[int, ...]:
        """One sample as the ONNX model takes it (a text baseline's: its vocabulary's counts)."""
        return (int(self.vocab_size or 0),) if self.text_input == "counts" else self.shape

    @model_validator(mode="after")
    def _shape_fits_the_kind(self) -> CardInput:
        if self.kind == "text":
            if len(self.shape) != 1 or self.shape[0] > MAX_TEXT_LENGTH:
                raise ValueError(f"a text model's shape is [max_length] of at most {MAX_TEXT_LENGTH:,} tokens, "
                                 f"not {list(self.shape)}")
            if self.text_input is None or self.vocab_size is None or self.vocab_size > MAX_VOCABULARY:
                raise ValueError("a text model's input names its text_input (ids or counts) and its vocab_size "
                                 f"(2 to {MAX_VOCABULARY:,})")
            if self.onnx_dtype != ONNX_DTYPES[self.text_input]:
                raise ValueError(f"a text model taking {self.text_input} takes {ONNX_DTYPES[self.text_input]}, "
                                 f"not onnx_dtype {self.onnx_dtype}")
            return self
        if self.text_input is not None:
            raise ValueError(f"only a text model has a text_input; this is an {self.kind} model")
        if self.kind == "image":
            if len(self.shape) != 3 or self.shape[2] not in IMAGE_CHANNELS:
                raise ValueError(f"an image model's shape is [height, width, channels] with 1 or 3 channels, "
                                 f"not {list(self.shape)}")
            if max(self.shape[:2]) > MAX_IMAGE_SIDE:
                raise ValueError(f"an image side of {max(self.shape[:2]):,} pixels is over the limit of "
                                 f"{MAX_IMAGE_SIDE:,} (shape {list(self.shape)})")
        else:
            if len(self.shape) != 1:
                raise ValueError(f"a features model's shape is [number of features], not {list(self.shape)}")
            if self.shape[0] > MAX_FEATURES:
                raise ValueError(f"{self.shape[0]:,} features is over the limit of {MAX_FEATURES:,}")
            if self.feature_names and len(self.feature_names) != self.shape[0]:
                raise ValueError(f"{len(self.feature_names)} feature_names for a shape of {list(self.shape)}")
        if self.onnx_dtype != ONNX_DTYPES[self.kind]:
            raise ValueError(f"an {self.kind} model takes {ONNX_DTYPES[self.kind]}, not onnx_dtype {self.onnx_dtype}")
        if self.table is not None and self.kind != "features":
            raise ValueError("only a features model has a table")
        return self


class CardOutput(_Part):
    onnx_name: Name
    classes: tuple[str, ...]
    embedding: Name | None = None  # a network's penultimate features (N, D); absent for scikit-learn and old bundles


class CardModel(_Part):
    kind: Literal["network", "sklearn"]
    spec: dict[str, Any] | None = None
    preprocessing: Any = None


class CardThreshold(_Part):
    """A two-class model's decision rule (``selection.threshold``): ``positive`` when its probability reaches
    ``value``; ``value`` null when the target was out of reach on validation (the most probable class decides).
    The target and the validation and test figures at the threshold are kept for people (``extra``)."""

    positive: Name
    value: Annotated[float, Field(ge=0.0, le=1.0)] | None


class BundleCard(_Part):
    format: Literal["practica-bundle"]
    schema_version: int
    name: str | None = None
    version: Name
    task: Literal["classification", "regression"] = "classification"
    input: CardInput
    output: CardOutput
    model: CardModel
    threshold: CardThreshold | None = None  # absent in bundles before thresholds, and without one: argmax

    @model_validator(mode="after")
    def _classes_fit_the_task(self) -> BundleCard:
        classes = self.output.classes
        has_classes = get_task(self.task).has_classes
        if has_classes and not classes:
            raise ValueError("output.classes is empty; a classifier lists its classes in the model's output order")
        if not has_classes and classes:
            raise ValueError(f"a {self.task} model has no classes, but output.classes lists {len(classes)}")
        if len(set(classes)) != len(classes):
            repeated = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f"output.classes repeats {repeated}; each class is listed once")
        if self.threshold is not None and (len(classes) != 2 or self.threshold.positive not in classes):
            raise ValueError(f"threshold.positive {self.threshold.positive!r} must be one of two classes; "
                             f"output.classes lists {list(classes)}")
        return self

    @property
    def outputs_per_input(self) -> int:
        """What the ONNX model gives per input: a probability per class, or one value."""
        return get_task(self.task).output_width(len(self.output.classes))
