"""``prepare_data``: the main source and a fixed test set, aligned by class name, size and channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_images import image_tree, pixels, write_image

from practica.config.schema import DatasetSpec, SourceSpec
from practica.data import prepare_data
from practica.errors import DataError


def test_digits_end_to_end() -> None:
    splits = prepare_data(DatasetSpec(source="digits", max_samples=300))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 300
    assert splits.train.input_shape == (1, 8, 8)


def test_fixed_test_folder_is_decoded_at_the_data_size_and_channels(tmp_path: Path) -> None:
    image_tree(tmp_path / "train", {"cat": 10, "dog": 10}, size=(8, 8), mode="L")
    image_tree(tmp_path / "test", {"cat": 2, "dog": 2}, size=(16, 20), mode="RGB")
    splits = prepare_data(
        DatasetSpec(source="folder", path=tmp_path / "train", test=SourceSpec(source="folder", path=tmp_path / "test"))
    )
    assert splits.test.x.shape == (4, 8, 8, 1)
    assert splits.test_is_fixed and splits.test.y.tolist() == [0, 0, 1, 1]


def test_test_classes_map_by_name_whatever_their_order(tmp_path: Path) -> None:
    image_tree(tmp_path / "train", {"cat": 10, "dog": 10, "emu": 10})
    test_x = np.stack([pixels(500 + i) for i in range(4)])  # not the training images: those would be leaks
    np.savez(tmp_path / "test.npz", x=test_x, y=np.array([0, 1, 1, 0]), classes=np.array(["emu", "cat"]))
    splits = prepare_data(
        DatasetSpec(source="folder", path=tmp_path / "train", test=SourceSpec(source="npz", path=tmp_path / "test.npz"))
    )
    assert splits.test.classes == ("cat", "dog", "emu")
    assert [splits.classes[i] for i in splits.test.y] == ["emu", "cat", "cat", "emu"]
    np.testing.assert_array_equal(splits.test.x, test_x)


def test_a_test_class_unknown_to_the_data_lists_both_sets(tmp_path: Path) -> None:
    image_tree(tmp_path / "train", {"cat": 5, "dog": 5})
    image_tree(tmp_path / "test", {"cat": 1, "fox": 1})
    with pytest.raises(DataError) as err:
        prepare_data(
            DatasetSpec(source="folder", path=tmp_path / "train",
                        test=SourceSpec(source="folder", path=tmp_path / "test"))
        )
    msg = str(err.value)
    assert "['fox']" in msg and "['cat', 'dog']" in msg and "['cat', 'fox']" in msg


def test_a_test_set_of_another_kind_is_an_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "train.npz", x=np.ones((20, 3)), y=np.arange(20) % 2)
    np.savez(tmp_path / "test.npz", x=np.ones((4, 5)), y=np.arange(4) % 2)
    with pytest.raises(DataError, match=r"shape \(5,\) but the data 'train' has \(3,\)"):
        prepare_data(
            DatasetSpec(
                source="npz", path=tmp_path / "train.npz", test=SourceSpec(source="npz", path=tmp_path / "test.npz")
            )
        )


def test_undecodable_files_reach_the_split_notes(tmp_path: Path) -> None:
    image_tree(tmp_path, {"a": 10, "b": 10})
    write_image(tmp_path / "b" / "fine.png", pixels(7777))
    (tmp_path / "b" / "broken.png").write_text("nope")
    splits = prepare_data(DatasetSpec(source="folder", path=tmp_path))
    assert any("broken.png" in note for note in splits.notes)
