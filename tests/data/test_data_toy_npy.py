"""scikit-learn's toy tables and the npy source, through ``load_source``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_wine

from practica.config.schema import SourceSpec
from practica.data import load_source
from practica.errors import DataError


@pytest.mark.parametrize(
    ("source", "shape", "classes"),
    [
        ("iris", (150, 4), ("setosa", "versicolor", "virginica")),
        ("wine", (178, 13), ("class_0", "class_1", "class_2")),
        ("breast_cancer", (569, 30), ("malignant", "benign")),
    ],
)
def test_toy_tables_are_float_features_with_sklearn_class_names(source, shape, classes) -> None:
    data = load_source(SourceSpec(source=source))
    assert data.x.shape == shape and data.x.dtype == np.float32 and data.kind == "features"
    assert data.classes == classes and data.y.dtype == np.int64
    assert data.sources[17] == f"{source}[17]" and data.name == source and data.skipped == ()


def test_toy_values_are_sklearns() -> None:
    data = load_source(SourceSpec(source="wine"))
    np.testing.assert_array_equal(data.x, load_wine().data.astype(np.float32))
    np.testing.assert_array_equal(data.y, load_wine().target)


# --- npy ----------------------------------------------------------------------------------------------


def _npy(tmp_path: Path, x: np.ndarray, y: np.ndarray, **options) -> SourceSpec:
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return SourceSpec(source="npy", path=tmp_path / "x.npy", labels=tmp_path / "y.npy", **options)


IMAGES = np.arange(6 * 4 * 5, dtype=np.uint8).reshape(6, 4, 5)


def test_npy_images_and_integer_labels(tmp_path: Path) -> None:
    data = load_source(_npy(tmp_path, IMAGES, np.array([0, 1, 2, 0, 1, 2])))
    assert data.x.shape == (6, 4, 5, 1) and data.kind == "image"
    np.testing.assert_array_equal(data.x[..., 0], IMAGES)
    assert data.classes == ("0", "1", "2") and data.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.sources[4] == "x.npy[4]" and data.name == "x"


def test_npy_features_with_label_names_keep_only_the_classes_present(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(5, 3))
    data = load_source(_npy(tmp_path, x, np.array([4, 1, 4, 1, 7]), label_names={1: "b", 4: "e", 7: "h", 9: "j"}))
    assert data.kind == "features" and data.x.dtype == np.float32
    assert data.classes == ("b", "e", "h") and data.y.tolist() == [1, 0, 1, 0, 2]


def test_npy_string_labels_and_whole_float_labels(tmp_path: Path) -> None:
    names = load_source(_npy(tmp_path, IMAGES, np.array(["dog", "cat", "dog", "cat", "emu", "emu"])))
    assert names.classes == ("cat", "dog", "emu") and names.y.tolist() == [1, 0, 1, 0, 2, 2]
    floats = load_source(_npy(tmp_path, IMAGES, np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])))
    assert floats.classes == ("0", "1")


def test_npy_rgb_and_column_labels(tmp_path: Path) -> None:
    data = load_source(_npy(tmp_path, np.zeros((4, 3, 3, 3), np.uint8), np.array([[0], [1], [0], [1]])))
    assert data.input_shape == (3, 3, 3) and data.y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (IMAGES, np.array([0, 1, 2]), r"has 6 samples but .*y\.npy has 3 labels"),
        (IMAGES.astype(np.float32), np.arange(6), r"images of shape \(6, 4, 5\) as float32; images must be uint8"),
        (np.zeros(6, np.uint8), np.arange(6), r"has shape \(6,\); expected uint8 N×H×W"),
        (np.zeros((6, 2, 2, 5), np.uint8), np.arange(6), "channels last"),
        (IMAGES, np.array([0.5] * 6), r"holds float64 labels; labels must be integers"),
        (IMAGES, np.array([True] * 6), r"holds bool labels"),
        (IMAGES, np.zeros((6, 3), int), r"shape \(6, 3\); labels are one value per sample.*argmax"),
        (IMAGES, np.array([0, 1, -1, 0, 1, 0]), r"has label -1 at x\.npy\[2\]; numeric labels are class indices"),
        (np.full((6, 2), np.nan), np.arange(6), "NaN or infinite"),
    ],
)
def test_npy_bad_arrays_say_what_and_how_to_fix(tmp_path: Path, x, y, message) -> None:
    with pytest.raises(DataError, match=message):
        load_source(_npy(tmp_path, x, y))


def test_npy_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    spec = _npy(tmp_path, IMAGES, np.array([0, 1, 2, 0, 1, 2]))
    np.save(tmp_path / "y.npy", np.array([{"a": 1}] * 6, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"y\.npy holds Python objects .* never loaded"):
        load_source(spec)


def test_npy_missing_file_and_wrong_format(tmp_path: Path) -> None:
    spec = _npy(tmp_path, IMAGES, np.arange(6))
    (tmp_path / "y.npy").unlink()
    with pytest.raises(DataError, match=r"the labels file .*y\.npy does not exist. Check the suite's labels"):
        load_source(spec)
    (tmp_path / "y.npy").write_text("not numpy")
    with pytest.raises(DataError, match=r"y\.npy is not a \.npy file"):
        load_source(spec)
    with open(tmp_path / "y.npy", "wb") as f:
        np.savez(f, y=np.arange(6))
    with pytest.raises(DataError, match="an .npz archive of named arrays.*use source: npz"):
        load_source(spec)


def test_npy_label_names_must_name_every_label(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"label_names has no name for label 2 \(2 samples, e.g. x\.npy\[2\]\); "
                                        r"it names labels 0–1"):
        load_source(_npy(tmp_path, IMAGES, np.array([0, 1, 2, 0, 1, 2]), label_names=["a", "b"]))
    with pytest.raises(DataError, match="holds class names .* Remove label_names"):
        load_source(_npy(tmp_path, IMAGES, np.array(list("abcabc")), label_names=["a", "b"]))
