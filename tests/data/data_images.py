"""Tiny image folders and data sets for the data tests, made on the spot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from practica.config.schema import SourceSpec
from practica.data.records import Dataset


def pixels(seed: int, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> np.ndarray:
    """Random uint8 pixels: H×W for mode L, H×W×3 for RGB."""
    shape = size if mode == "L" else (*size, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def image_tree(
    root: Path, counts: dict[str, int], size: tuple[int, int] = (8, 8), mode: str = "RGB", suffix: str = ".png"
) -> dict[str, list[np.ndarray]]:
    """Write ``counts[class]`` images per class under ``root/<class>/``; returns their pixels."""
    written: dict[str, list[np.ndarray]] = {}
    for k, (name, n) in enumerate(counts.items()):
        written[name] = [pixels(1000 * k + i, size, mode) for i in range(n)]
        for i, array in enumerate(written[name]):
            write_image(root / name / f"{i:03d}{suffix}", array)
    return written


def folder(path: Path, **options: object) -> SourceSpec:
    return SourceSpec(source="folder", path=path, **options)


def table(counts: list[int], features: int = 4, seed: int = 0) -> Dataset:
    """A feature data set with ``counts[k]`` samples of class ``c{k}``."""
    y = np.repeat(np.arange(len(counts)), counts)
    x = np.random.default_rng(seed).normal(size=(len(y), features)).astype(np.float32)
    return Dataset(name="table", x=x, y=y, classes=tuple(f"c{k}" for k in range(len(counts))))
