"""Load one declared source into a ``Dataset``: every loader has the same contract,
``load(spec: SourceSpec) -> Dataset`` (images uint8 N×H×W×C, features float32 N×F, or texts: an object
array of N str)."""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from practica.config.schema import SourceSpec
from practica.data.records import Dataset
from practica.data.sources import required_path
from practica.data.sources.decode import Size
from practica.data.sources.folder import load_folder, part_root
from practica.data.sources.npz import load_npz
from practica.data.storage import mapped
from practica.errors import DataError


def load_source(
    spec: SourceSpec,
    *,
    image_size: Size | None = None,
    channels: int | None = None,
    memmap: mapped.Setting | None = None,
) -> Dataset:
    """Decode ``spec``; ``image_size`` and ``channels`` override the spec's own.

    The overrides let a fixed test set be decoded at the training set's size and channels.
    Folder, pixel CSV and JSON sources are cached on disk (see ``cache.py``); the others are fast
    to read. A folder holding train/ and test/ is read at ``spec.part``.

    ``memmap`` (default: the spec's ``memmap`` where it has one, else "auto"): the samples as a
    read-only memory-mapped array (``mapped.py``) rather than in memory. A folder is decoded into
    the cache chunk by chunk and an ``.npy`` of images mapped where it lies; the other sources are
    read in memory, then copied to a mapped scratch file.
    """
    setting: mapped.Setting = memmap if memmap is not None else getattr(spec, "memmap", "auto")
    if spec.source == "text":
        if setting is True:
            raise DataError("memmap: true does not apply to texts: strings of many lengths are kept in memory "
                            "(a million reviews take about a gigabyte). Set dataset.memmap: auto or false.")
        setting = False
    size = image_size or spec.image_size
    chans = channels or spec.channels
    if spec.source == "folder":
        return load_folder(part_root(required_path(spec.path, "path", spec.source), spec.part), size, chans, setting)
    if (size, chans) != (spec.image_size, spec.channels):  # a loader that decodes images decodes them so
        spec = spec.model_copy(update={"image_size": size, "channels": chans})
    if spec.source == "npy":
        from practica.data.sources.npy import load_npy

        data = load_npy(spec, memmap=setting)
    else:
        data = _LOADERS[spec.source](spec)
    data = _conform(data, size, chans)
    task = getattr(spec, "task", "auto")  # dataset.task (a fixed test set's SourceSpec has none)
    if task != "auto":
        from practica.data.sources.targets import resolve_task

        data = resolve_task(data, task)
    if not mapped.is_mapped(data.x) and mapped.want_memmap(setting, data.x.nbytes):
        data = replace(data, x=mapped.spill(data.x))
    return data


def _lazy(module: str, function: str):
    """A loader imported on first use: each pulls in only what its format needs."""

    def load(spec: SourceSpec) -> Dataset:
        return getattr(importlib.import_module(f"practica.data.sources.{module}"), function)(spec)

    return load


_LOADERS = {
    "digits": lambda spec: _digits(),
    "iris": _lazy("toy", "load_toy"),
    "wine": _lazy("toy", "load_toy"),
    "breast_cancer": _lazy("toy", "load_toy"),
    "diabetes": _lazy("toy", "load_toy"),
    "npz": lambda spec: load_npz(Path(spec.path)),
    "pixel_csv": _lazy("pixel_csv", "load_pixel_csv"),
    "json": _lazy("json_records", "load_json_records"),
    "csv": _lazy("tabular", "load_table_csv"),
    "text": _lazy("text", "load_text"),
    "cifar10": _lazy("known", "load_known"),
    "cifar100": _lazy("known", "load_known"),
    "mnist": _lazy("known", "load_known"),
    "fashion_mnist": _lazy("known", "load_known"),
}


def _conform(data: Dataset, image_size: Size | None, channels: int | None) -> Dataset:
    """Convert an in-memory image set to ``channels`` and resize it to ``image_size`` (H, W)."""
    if image_size is None and channels is None:
        return data
    if data.kind != "image":
        raise DataError(
            f"{data.name} holds features ({data.x.shape[1]} per sample), but an image size or channel "
            "count was asked for; image_size and channels apply to images only. Remove them (and give "
            "a fixed test set the same kind of data as the training set)."
        )
    x = data.x
    if mapped.is_mapped(x):  # a chunk at a time, into a mapped scratch file
        if (channels is None or channels == x.shape[3]) and (image_size is None or tuple(image_size) == x.shape[1:3]):
            return data
        x = mapped.transform(x, lambda part: _conform_array(part, image_size, channels))
    else:
        x = _conform_array(x, image_size, channels)
    return replace(data, x=x)


def _conform_array(x: np.ndarray, image_size: Size | None, channels: int | None) -> np.ndarray:
    if channels is not None and channels != x.shape[3]:
        x = np.repeat(x, 3, axis=3) if channels == 3 else _luma(x)
    if image_size is not None and tuple(image_size) != x.shape[1:3]:
        x = np.stack([_resize(img, image_size) for img in x])
    return x


def _digits() -> Dataset:
    digits = load_digits()  # 1797 × 8 × 8 images, values 0..16
    x = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    return Dataset(
        name="digits",
        x=x,
        y=y,
        classes=tuple(str(d) for d in range(10)),
        sources=tuple(f"digits[{i}]" for i in range(len(y))),
    )


def _luma(x: np.ndarray) -> np.ndarray:
    """RGB to grayscale with Pillow's integer weights, so arrays and files convert alike."""
    w = np.array([19595, 38470, 7471], dtype=np.uint32)
    return ((x.astype(np.uint32) @ w + 0x8000) >> 16).astype(np.uint8)[..., None]


def _resize(img: np.ndarray, size: Size) -> np.ndarray:
    pil = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
    out = np.asarray(pil.resize((size[1], size[0]), Image.Resampling.BILINEAR))
    return out[..., None] if out.ndim == 2 else out
