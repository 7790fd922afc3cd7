"""The npz source, through ``load_source``: what it accepts and how it refuses the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from practica.config.schema import SourceSpec
from practica.data import load_source
from practica.errors import DataError

IMAGES = np.arange(6 * 4 * 5, dtype=np.uint8).reshape(6, 4, 5)
LABELS = np.array([0, 1, 2, 0, 1, 2])


def _npz(tmp_path: Path, **arrays: np.ndarray) -> SourceSpec:
    path = tmp_path / "set.npz"
    np.savez(path, **arrays)
    return SourceSpec(source="npz", path=path)


def test_gray_images_get_a_channel_axis_and_integer_labels_name_classes(tmp_path: Path) -> None:
    data = load_source(_npz(tmp_path, x=IMAGES, y=LABELS))
    assert data.x.shape == (6, 4, 5, 1) and data.kind == "image"
    np.testing.assert_array_equal(data.x[..., 0], IMAGES)
    assert data.classes == ("0", "1", "2") and data.y.dtype == np.int64
    assert data.sources[4] == "set.npz[4]" and data.name == "set"


def test_rgb_images_under_images_and_labels_keys(tmp_path: Path) -> None:
    rgb = np.zeros((6, 4, 5, 3), dtype=np.uint8)
    assert load_source(_npz(tmp_path, images=rgb, labels=LABELS)).input_shape == (3, 4, 5)


def test_feature_table_under_capital_x(tmp_path: Path) -> None:
    data = load_source(_npz(tmp_path, X=np.ones((6, 3), dtype=np.float64), y=LABELS))
    assert data.kind == "features" and data.x.dtype == np.float32 and data.input_shape == (3,)


def test_string_labels_become_sorted_classes(tmp_path: Path) -> None:
    data = load_source(_npz(tmp_path, x=IMAGES, y=np.array(["dog", "cat", "emu", "cat", "dog", "emu"])))
    assert data.classes == ("cat", "dog", "emu")
    assert data.y.tolist() == [1, 0, 2, 0, 1, 2]


def test_given_classes_name_integer_labels(tmp_path: Path) -> None:
    data = load_source(_npz(tmp_path, x=IMAGES, y=LABELS, classes=np.array(["zero", "one", "two", "three"])))
    assert data.classes == ("zero", "one", "two", "three")
    assert data.class_counts()["three"] == 0


def test_size_and_channel_overrides_apply_to_npz_images(tmp_path: Path) -> None:
    data = load_source(_npz(tmp_path, x=IMAGES, y=LABELS), image_size=(8, 10), channels=3)
    assert data.x.shape == (6, 8, 10, 3)


def test_size_override_on_features_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image_size and channels apply to images only"):
        load_source(_npz(tmp_path, x=np.ones((6, 3)), y=LABELS), image_size=(8, 8))


def test_not_an_npz_file(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"set.npz is not a readable .npz file.*numpy.savez"):
        load_source(SourceSpec(source="npz", path=path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing.npz does not exist"):
        load_source(SourceSpec(source="npz", path=tmp_path / "nothing.npz"))


def test_a_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    with open(path, "wb") as f:
        np.save(f, IMAGES)
    with pytest.raises(DataError, match=r"single array \(.npy\)"):
        load_source(SourceSpec(source="npz", path=path))


@pytest.mark.parametrize(
    ("arrays", "says"),
    [
        ({"data": IMAGES, "target": LABELS}, "holds 'data', 'target'; expected arrays 'x' and 'y'"),
        ({"x": IMAGES}, "has 'x' but no 'y'"),
        ({"labels": LABELS}, "has 'labels' but no 'images'"),
        ({"x": IMAGES, "y": LABELS[:5]}, "'x' has 6 samples but 'y' has 5 labels"),
        ({"x": IMAGES.astype(np.float32), "y": LABELS}, "images must be uint8 0..255"),
        ({"x": np.zeros((6, 4, 5, 2), np.uint8), "y": LABELS}, "C 1 or 3, channels last"),
        ({"x": np.zeros(6, np.uint8), "y": LABELS}, "'x' has shape (6,); expected"),
        ({"x": np.array([["a"]] * 6), "y": LABELS}, "features must be numbers"),
        ({"x": np.full((6, 2), np.nan), "y": LABELS}, "NaN or infinite"),
        ({"x": IMAGES, "y": LABELS.astype(float)}, "'y' holds float64; labels must be integers"),
        ({"x": IMAGES, "y": LABELS - 1}, "'y' has label -1"),
        ({"x": IMAGES, "y": LABELS[:, None]}, "one value per sample"),
        ({"x": IMAGES, "y": LABELS, "classes": np.array(["a", "b"])}, "label 2 but 'classes' names 2 classes"),
        ({"x": IMAGES, "y": LABELS, "classes": np.array([1, 2, 3])}, "'classes' has shape (3,) and dtype int64"),
        ({"x": IMAGES, "y": LABELS, "classes": np.array(["a", "a", "b"])}, "names a class twice"),
        ({"x": IMAGES, "y": np.array(list("abcabc")), "classes": np.array(["a", "b"])}, "labels ['c'] missing"),
        ({"x": IMAGES, "y": np.array([object()] * 6)}, "array 'y' cannot be read"),
    ],
)
def test_malformed_npz_says_which_key_and_what_is_expected(tmp_path: Path, arrays: dict, says: str) -> None:
    with pytest.raises(DataError) as err:
        load_source(_npz(tmp_path, **arrays))
    assert says in str(err.value)
    assert str(tmp_path / "set.npz") in str(err.value)
