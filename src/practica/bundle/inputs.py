"""Turn what a user sends (image bytes, base64, pixel arrays, feature maps) into model inputs.

Shared by ``practica predict`` and the HTTP service so both accept the same things and
reject them with the same messages. Every problem raises ``InputError`` saying what was
wrong and what the model accepts.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from practica.data.decode import prepare_image
from practica.errors import InputError

# Decompression bombs: refuse an image with more pixels than this before decoding it.
DEFAULT_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class InputSpec:
    """What one sample of the model's input is: an H×W×C uint8 image or F float features."""

    kind: Literal["image", "features"]
    shape: tuple[int, ...]  # (H, W, C) for images, (F,) for features
    feature_names: tuple[str, ...] = ()
    table: Any = None  # a CSV table's column schema (data/tabular.py): named columns, categories as strings

    @property
    def onnx_dtype(self) -> type:
        return np.uint8 if self.kind == "image" else np.float32

    def describe(self) -> str:
        if self.kind == "image":
            h, w, c = self.shape
            return f"{h}×{w} {'grayscale' if c == 1 else 'RGB'} images"
        if self.table is not None:
            return f"a table row of {self.shape[0]} columns ({', '.join(self.feature_names)})"
        return f"{self.shape[0]} numeric features"

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "shape": list(self.shape), "feature_names": list(self.feature_names)}
        return out if self.table is None else {**out, "table": self.table.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        table = None
        if d.get("table") is not None:
            from practica.data.tabular import TableSchema

            table = TableSchema.from_dict(d["table"])
        return cls(kind=d["kind"], shape=tuple(d["shape"]), feature_names=tuple(d.get("feature_names", ())), table=table)


def decode_image(data: bytes, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) → H×W×C uint8, converted and resized as in training."""
    if spec.kind != "image":
        raise InputError(f"this model takes {spec.describe()}, not images; send 'features' instead")
    if not data:
        raise InputError("the image is empty (0 bytes); send the bytes of a PNG or JPEG file")
    h0, w0, c = spec.shape
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise InputError(f"the image is {w}×{h} pixels, over the limit of {max_pixels:,}; send a smaller image")
            arr = prepare_image(img, (h0, w0), c)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("not an image: the bytes are not a format Pillow reads; send a PNG or JPEG file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InputError(f"not a readable image ({type(err).__name__}: {err}); send a PNG or JPEG file") from None
    return arr.reshape(h0, w0, c)


def decode_base64_image(text: Any, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    if not isinstance(text, str):
        raise InputError(f"'image' must be a base64 string of a PNG or JPEG file, not {type(text).__name__}")
    if text.startswith("data:"):  # a data URL, as a browser's FileReader gives
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("'image' is not valid base64; encode the file's bytes with standard base64") from None
    return decode_image(data, spec, max_pixels)


def pixels_to_array(pixels: Any, spec: InputSpec) -> np.ndarray:
    """Nested lists of 0–255 values, H×W×C, H×W (one channel) or flat, → H×W×C uint8."""
    if spec.kind != "image":
        raise InputError(f"this model takes {spec.describe()}, not pixels; send 'features' instead")
    h, w, c = spec.shape
    try:
        arr = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise InputError(f"'pixels' must be a nested list of numbers shaped {h}×{w}×{c} (or {h}×{w} when c is 1)") from None
    if arr.size != h * w * c or arr.shape not in ((h, w, c), (h, w) if c == 1 else (h, w, c), (h * w * c,)):
        raise InputError(
            f"'pixels' has shape {'×'.join(map(str, arr.shape)) or 'scalar'}; this model takes {h}×{w}×{c}"
            + (f" (or {h}×{w})" if c == 1 else "") + f", or a flat list of {h * w * c} values"
        )
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise InputError("'pixels' values must be numbers from 0 to 255")
    return np.rint(arr).astype(np.uint8).reshape(h, w, c)


def features_to_array(features: Any, spec: InputSpec) -> np.ndarray:
    """A list of F numbers, or a mapping of feature name → number, → F float32. For a table: a mapping
    of column name → value (a number, a category's string, or null / left out for missing), or a list
    of the values in column order (``TableSchema.encode``)."""
    if spec.kind != "features":
        raise InputError(f"this model takes {spec.describe()}; send 'image' or 'pixels' instead of 'features'")
    if spec.table is not None:
        return spec.table.encode(features)
    (n,) = spec.shape
    if isinstance(features, Mapping):
        if not spec.feature_names:
            raise InputError(f"this model's features have no names; send a list of {n} numbers")
        missing = [k for k in spec.feature_names if k not in features]
        unknown = [k for k in features if k not in spec.feature_names]
        if missing or unknown:
            raise InputError(
                f"'features' must have exactly the keys {list(spec.feature_names)}"
                + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "")
            )
        features = [features[k] for k in spec.feature_names]
    if not isinstance(features, Sequence) or isinstance(features, str):
        raise InputError(f"'features' must be a list of {n} numbers" + (" or an object keyed by feature name" if spec.feature_names else ""))
    try:
        arr = np.asarray(features, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError(f"'features' must hold numbers only ({n} of them)") from None
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise InputError(f"'features' must be {n} finite numbers; got shape {'×'.join(map(str, arr.shape)) or 'scalar'}")
    return arr


def decode_item(item: Any, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One JSON input: exactly one of {"image": base64}, {"pixels": [...]}, {"features": ...}."""
    accepted = "'image' (base64 PNG/JPEG) or 'pixels'" if spec.kind == "image" else "'features'"
    if not isinstance(item, Mapping):
        raise InputError(f"each input must be an object with {accepted}, not {type(item).__name__}")
    keys = [k for k in ("image", "pixels", "features") if k in item]
    unknown = [k for k in item if k not in ("image", "pixels", "features")]
    if unknown or len(keys) != 1:
        raise InputError(f"each input must have exactly one of {accepted}; got keys {sorted(item)}")
    key = keys[0]
    if key == "image":
        return decode_base64_image(item["image"], spec, max_pixels)
    if key == "pixels":
        return pixels_to_array(item["pixels"], spec)
    return features_to_array(item["features"], spec)
