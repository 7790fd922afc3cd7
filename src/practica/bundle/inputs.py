"""Turn what a user sends (image bytes, base64, pixel arrays, feature maps, texts) into model inputs.

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
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BeforeValidator, PlainSerializer, SerializerFunctionWrapHandler, TypeAdapter, WrapSerializer

from practica.data.sources.decode import prepare_image
from practica.errors import InputError

# Decompression bombs. A PNG of 4096×4096 zeros is 49 kB yet costs ~0.2 s of CPU and 16–48 MB to
# decode, and the model's input size bounds none of it (images are resized after decoding), so the
# limits are on the decoded pixels, checked from the image's header before anything is decoded:
# per image (a 16-megapixel photo still passes), and per request in the HTTP service.
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_REQUEST_PIXELS = 4 * DEFAULT_MAX_PIXELS
# A text over this many characters is refused, not cut: a model reads at most its tokenizer's max_length
# tokens (512 at most when chosen from the data), so 100,000 characters is far beyond anything it reads,
# and tokenising a text costs time in proportion to its length.
MAX_TEXT_CHARS = 100_000


def _table_from_stored(d: Any) -> Any:
    if d is None or not isinstance(d, Mapping):
        return d
    from practica.data.sources.tabular import TABLE_SCHEMA

    return TABLE_SCHEMA.validate_python(d)


def _table_to_stored(t: Any) -> Any:
    if t is None:
        return None
    from practica.data.sources.tabular import TABLE_SCHEMA

    return TABLE_SCHEMA.dump_python(t, mode="json")


# A table's schema travels as ``TABLE_SCHEMA`` writes it (the same JSON it always had).
_Table = Annotated[Any, BeforeValidator(_table_from_stored), PlainSerializer(_table_to_stored)]


@dataclass(frozen=True)
class InputSpec:
    """What one sample of the model's input is: an H×W×C uint8 image, F float features, or a text.

    A text is tokenised by the bundle's tokenizer (``tokenizer.json``) into what the ONNX model takes
    (``text_input``): ``ids``, int64 × ``max_length`` (a network's), or ``counts``, float32 × ``vocab_size``
    (a scikit-learn baseline's bag of tokens). ``shape`` is ``(max_length,)`` for both."""

    kind: Literal["image", "features", "text"]
    shape: tuple[int, ...]  # (H, W, C) for images, (F,) for features, (max_length,) for texts
    feature_names: tuple[str, ...] = ()
    table: _Table = None  # a CSV table's column schema (data/sources/tabular.py): named columns, categories as strings
    text_input: Literal["ids", "counts"] | None = None  # texts only: what the ONNX model takes
    vocab_size: int | None = None  # texts only: the tokenizer's vocabulary (the width of ``counts``)
    tokenizer: str = ""  # texts only: the tokenizer in words (``TextTokenizer.describe()``)

    @property
    def onnx_dtype(self) -> type:
        if self.kind == "text":
            return np.int64 if self.text_input == "ids" else np.float32
        return np.uint8 if self.kind == "image" else np.float32

    @property
    def model_shape(self) -> tuple[int, ...]:
        """One sample as the ONNX model takes it: ``shape``, but a text baseline's (vocab_size,) counts."""
        if self.kind == "text" and self.text_input == "counts":
            return (int(self.vocab_size or 0),)
        return self.shape

    def describe(self) -> str:
        if self.kind == "text":
            return "texts" + (f" ({self.tokenizer})" if self.tokenizer else f" (cut at {self.shape[0]:,} tokens)")
        if self.kind == "image":
            h, w, c = self.shape
            return f"{h}×{w} {'grayscale' if c == 1 else 'RGB'} images"
        if self.table is not None:
            return f"a table row of {self.shape[0]} columns ({', '.join(self.feature_names)})"
        return f"{self.shape[0]} numeric features"

    def example(self, n: int = 1) -> np.ndarray:
        """``n`` inputs of the kind the service and ``predict`` hand the bundle: zeros, or empty texts."""
        if self.kind == "text":
            out = np.empty(n, dtype=object)
            out[:] = ""
            return out
        return np.zeros((n, *self.shape), self.onnx_dtype)

    def same_requests(self, other: InputSpec) -> bool:
        """Whether a model of ``other`` answers the same requests: equal inputs, or texts on both sides (each
        model tokenises with its own tokenizer, so a retrained vocabulary or length is no obstacle)."""
        return self == other or (self.kind == "text" and other.kind == "text")



_OPTIONAL = ("table", "text_input", "vocab_size", "tokenizer")


def _without_absent_table(spec: InputSpec, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
    out = handler(spec)  # an image's or a table's card keeps the keys it always had
    return {k: v for k, v in out.items() if k not in _OPTIONAL or v not in (None, "")}


INPUT_SPEC = TypeAdapter(Annotated[InputSpec, WrapSerializer(_without_absent_table)])
"""An ``InputSpec`` as the bundle card's ``input`` (``dump_python(spec, mode="json")``: kind, shape, feature names and,
for a table, its columns as ``TABLE_SCHEMA`` dumps them; for a text, its ``text_input``, ``vocab_size`` and
``tokenizer``) and back (``validate_python``, which leaves other keys aside)."""


def text_of(value: Any, spec: InputSpec, max_chars: int = MAX_TEXT_CHARS) -> str:
    """A JSON input's (or a file's) text, checked: a string, not blank, at most ``max_chars`` characters."""
    if spec.kind != "text":
        raise InputError(f"this model takes {spec.describe()}, not text; send "
                         + ("'image' or 'pixels'" if spec.kind == "image" else "'features'") + " instead")
    if not isinstance(value, str):
        raise InputError(f"'text' must be a string, not {_json_type(value)}")
    if not value.strip():
        raise InputError("the text is empty; send at least one word")
    if len(value) > max_chars:
        raise InputError(f"the text has {len(value):,} characters, over the limit of {max_chars:,}; send a shorter "
                         f"text (the model reads only its first {spec.shape[0]:,} tokens)")
    return value


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _send_instead(spec: InputSpec) -> str:
    return {"text": "'text'", "image": "'image' or 'pixels'"}.get(spec.kind, "'features'")


class OpenedImage:
    """An image whose header has been read and whose size is within the limit; its pixels are decoded
    only by ``decode``, so a caller can add up the sizes of several before decoding any."""

    def __init__(self, img: Image.Image, spec: InputSpec) -> None:
        self._img = img
        self._spec = spec

    @property
    def pixels(self) -> int:
        """Width × height: what decoding it costs."""
        w, h = self._img.size
        return w * h

    def decode(self) -> np.ndarray:
        """H×W×C uint8, converted and resized as in training."""
        h0, w0, c = self._spec.shape
        try:
            arr = prepare_image(self._img, (h0, w0), c)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"not a readable image ({type(err).__name__}: {err}); send a PNG or JPEG file") from None
        finally:
            self._img.close()
        return arr.reshape(h0, w0, c)


def open_image(source: bytes | str | Path, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> OpenedImage:
    """Encoded image bytes (PNG, JPEG, ...) or an image file, its header read and its width × height
    checked against ``max_pixels``; nothing decoded yet.

        >>> open_image(png_bytes, InputSpec("image", (8, 8, 1))).decode().shape
        (8, 8, 1)
    """
    if spec.kind != "image":
        raise InputError(f"this model takes {spec.describe()}, not images; send {_send_instead(spec)} instead")
    if isinstance(source, bytes) and not source:
        raise InputError("the image is empty (0 bytes); send the bytes of a PNG or JPEG file")
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except UnidentifiedImageError:
        raise InputError("not an image: the bytes are not a format Pillow reads; send a PNG or JPEG file") from None
    except Image.DecompressionBombError as err:  # Pillow's own limit, far above ours
        raise InputError(too_large_message(err, spec, max_pixels)) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"not a readable image ({type(err).__name__}: {err}); send a PNG or JPEG file") from None
    try:
        check_image_size(img.size, spec, max_pixels)
    except InputError:
        img.close()
        raise
    return OpenedImage(img, spec)


def check_image_size(size: tuple[int, int], spec: InputSpec, max_pixels: int) -> None:
    """Refuse an image whose (width, height), from its header, is over ``max_pixels``."""
    if size[0] * size[1] > max_pixels:
        raise InputError(too_large_message(size, spec, max_pixels))


def too_large_message(size: tuple[int, int] | Image.DecompressionBombError, spec: InputSpec, max_pixels: int) -> str:
    h0, w0, _ = spec.shape
    what = (f"{size[0]}×{size[1]} pixels" if isinstance(size, tuple)
            else f"too large for Pillow ({size})")  # Pillow's error says the size
    return (f"the image is {what}, over the limit of {max_pixels:,} pixels per image; resize it first "
            f"(the model takes {w0}×{h0})")


def open_base64_image(text: Any, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> OpenedImage:
    """``open_image`` of a JSON input's 'image': base64, or a data: URL."""
    if not isinstance(text, str):
        raise InputError(f"'image' must be a base64 string of a PNG or JPEG file, not {type(text).__name__}")
    if text.startswith("data:"):  # a data URL, as a browser's FileReader gives
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("'image' is not valid base64; encode the file's bytes with standard base64") from None
    return open_image(data, spec, max_pixels)


def pixels_to_array(pixels: Any, spec: InputSpec) -> np.ndarray:
    """Nested lists of 0–255 values, H×W×C, H×W (one channel) or flat, → H×W×C uint8."""
    if spec.kind != "image":
        raise InputError(f"this model takes {spec.describe()}, not pixels; send {_send_instead(spec)} instead")
    h, w, c = spec.shape
    try:
        arr = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise InputError(f"'pixels' must be a nested list of numbers shaped {h}×{w}×{c} "
                         f"(or {h}×{w} when c is 1)") from None
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
    of the values in column order (``TableSchema.encode``); the table's ignored columns and its target
    may be in the mapping too, and are dropped."""
    if spec.kind != "features":
        raise InputError(f"this model takes {spec.describe()}; send {_send_instead(spec)} instead of 'features'")
    if spec.table is not None:
        if isinstance(features, Mapping):
            # The columns the model was trained without (the suite's `ignore`, and the target) are taken
            # and dropped, as `practica predict` drops them from a CSV; any other unknown name is refused.
            dropped = {*spec.table.ignored, spec.table.target}
            features = {k: v for k, v in features.items() if k not in dropped}
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
        raise InputError(f"'features' must be a list of {n} numbers"
                         + (" or an object keyed by feature name" if spec.feature_names else ""))
    try:
        arr = np.asarray(features, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError(f"'features' must hold numbers only ({n} of them)") from None
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise InputError(f"'features' must be {n} finite numbers; "
                         f"got shape {'×'.join(map(str, arr.shape)) or 'scalar'}")
    return arr


def decode_item(item: Any, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | str:
    """One JSON input: exactly one of {"image": base64}, {"pixels": [...]}, {"features": ...}, {"text": "..."}
    (a text model's: the text itself, checked; the bundle's tokenizer makes it ids)."""
    staged = open_item(item, spec, max_pixels)
    return staged.decode() if isinstance(staged, OpenedImage) else staged


INPUT_KEYS = ("image", "pixels", "features", "text")


def open_item(item: Any, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | OpenedImage | str:
    """``decode_item`` but for an image, which is left opened and undecoded (its size known)."""
    accepted = {"image": "'image' (base64 PNG/JPEG) or 'pixels'", "text": "'text'"}.get(spec.kind, "'features'")
    if not isinstance(item, Mapping):
        raise InputError(f"each input must be an object with {accepted}, not {type(item).__name__}")
    keys = [k for k in INPUT_KEYS if k in item]
    unknown = [k for k in item if k not in INPUT_KEYS]
    if unknown or len(keys) != 1:
        raise InputError(f"each input must have exactly one of {accepted}; got keys {sorted(item)}")
    key = keys[0]
    if key == "text":
        return text_of(item["text"], spec)
    if spec.kind == "text":  # an image's or a table's input sent to a text model
        raise InputError(f"this model takes {spec.describe()}, not {key}; send {{\"text\": \"...\"}} instead")
    if key == "image":
        return open_base64_image(item["image"], spec, max_pixels)
    if key == "pixels":
        return pixels_to_array(item["pixels"], spec)
    return features_to_array(item["features"], spec)
