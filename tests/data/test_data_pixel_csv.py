"""The pixel_csv source: Kaggle-style ``label,pixel1,…`` files, good rows and bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from practica.config.schema import SourceSpec
from practica.data import load_source
from practica.data.sources import pixel_csv
from practica.errors import DataError


def _csv(tmp_path: Path, header: str, rows: list[str], name: str = "train.csv", **options) -> SourceSpec:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return SourceSpec(source="pixel_csv", path=path, **options)


def _header(n: int, label: str = "label", at: int = 0) -> str:
    names = [f"pixel{i + 1}" for i in range(n)]
    names.insert(at, label)
    return ",".join(names)


def _row(label: object, values: list[object], at: int = 0) -> str:
    fields = [str(v) for v in values]
    fields.insert(at, str(label))
    return ",".join(fields)


IMAGES = np.random.default_rng(0).integers(0, 256, (6, 3, 3), dtype=np.uint8)


def test_square_gray_images_are_inferred_and_rows_name_the_sources(tmp_path: Path) -> None:
    rows = [_row(i % 3, IMAGES[i].ravel().tolist()) for i in range(6)]
    data = load_source(_csv(tmp_path, _header(9), rows))
    assert data.x.shape == (6, 3, 3, 1) and data.x.dtype == np.uint8
    np.testing.assert_array_equal(data.x[..., 0], IMAGES)
    assert data.classes == ("0", "1", "2") and data.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.sources[0] == "train.csv:row 2" and data.sources[5] == "train.csv:row 7"
    assert data.name == "train" and data.skipped == ()


def test_rgb_is_inferred_from_three_squares_and_values_are_channels_last(tmp_path: Path) -> None:
    rgb = np.arange(4 * 12).reshape(4, 2, 2, 3)
    data = load_source(_csv(tmp_path, _header(12), [_row(i % 2, rgb[i].ravel().tolist()) for i in range(4)]))
    assert data.x.shape == (4, 2, 2, 3)
    np.testing.assert_array_equal(data.x, rgb)


def test_declared_shape_and_label_column_found_anywhere_by_name(tmp_path: Path) -> None:
    values = np.arange(6).tolist()
    rows = [_row(k, values, at=6) for k in ("cat", "dog", "cat")]
    data = load_source(_csv(tmp_path, _header(6, "Class", at=6), rows, image_shape=(2, 3, 1)))
    assert data.x.shape == (3, 2, 3, 1) and data.x[0, 1, 2, 0] == 5
    assert data.classes == ("cat", "dog") and data.y.tolist() == [0, 1, 0]


def test_a_declared_label_column_in_the_middle(tmp_path: Path) -> None:
    rows = [_row(k, [1, 2, 3, 4], at=2) for k in (7, 3, 7)]
    data = load_source(_csv(tmp_path, _header(4, "digit", at=2), rows, label_column="digit"))
    np.testing.assert_array_equal(data.x[0].ravel(), [1, 2, 3, 4])
    assert data.classes == ("3", "7") and data.y.tolist() == [1, 0, 1]


def test_label_names_map_indices_to_names_and_absent_labels_make_no_class(tmp_path: Path) -> None:
    # Sign-language MNIST: labels 0–24 without 9 (J needs motion); the map may name them all.
    letters = {i: chr(ord("A") + i) for i in range(26)}
    rows = [_row(k, [0] * 4) for k in (0, 10, 24, 10, 0)]
    data = load_source(_csv(tmp_path, _header(4), rows, label_names=letters))
    assert data.classes == ("A", "K", "Y") and data.y.tolist() == [0, 1, 2, 1, 0]


def test_whole_float_labels_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefflabel,p1,p2,p3,p4\n1.0,0,0,0,0\n2.0,1,1,1,1\n".encode())
    data = load_source(SourceSpec(source="pixel_csv", path=path))
    assert data.classes == ("1", "2") and len(data) == 2


def test_bad_rows_are_skipped_with_their_row_number_never_a_crash(tmp_path: Path) -> None:
    good = [0] * 4
    rows = [
        _row(0, good),                  # row 2: fine
        _row(1, [0, 0, 0]),             # row 3: too few values
        _row(0, [0, 0, "abc", 0]),      # row 4: not a number
        _row(1, [0, "", 0, 0]),         # row 5: missing value
        _row(0, [0, 0, 0, 300]),        # row 6: out of range
        _row(1, [0, -1, 0, 0]),         # row 7: negative
        _row("", good),                 # row 8: no label
        "",                             # row 9: blank, ignored
        _row(1, [0, 0, 0, 13.0]),       # row 10: fine (a whole number)
        _row(0, [0, 0, 0, "nan"]),      # row 11: not finite
    ]
    data = load_source(_csv(tmp_path, _header(4), rows, name="t.csv"))
    assert data.sources == ("t.csv:row 2", "t.csv:row 10")
    assert data.x[1, 1, 1, 0] == 13 and data.y.tolist() == [0, 1]
    assert tuple(map(str, data.skipped)) == (
        "t.csv:row 3: 4 values, but the header has 5 columns",
        "t.csv:row 4: column 'pixel3' is 'abc', not a number",
        "t.csv:row 5: column 'pixel2' is empty (a missing value)",
        "t.csv:row 6: column 'pixel4' is 300, outside the pixel range 0–255",
        "t.csv:row 7: column 'pixel2' is -1, outside the pixel range 0–255",
        "t.csv:row 8: no label (column 'label' is empty)",
        "t.csv:row 11: column 'pixel4' is nan, not a pixel value (0–255)",
    )


def test_bad_rows_in_a_large_file_are_found_chunk_by_chunk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pixel_csv, "_CHUNK_ROWS", 3)
    rows = [_row(i % 2, [i % 256] * 4) for i in range(10)]
    rows[7] = _row(1, [0, "x", 0, 0])
    data = load_source(_csv(tmp_path, _header(4), rows))
    assert len(data) == 9
    assert tuple(map(str, data.skipped)) == ("train.csv:row 9: column 'pixel2' is 'x', not a number",)
    assert data.x[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9]


@pytest.mark.parametrize(
    ("header", "rows", "options", "message"),
    [
        ("pixel1,pixel2,pixel3,pixel4", ["0,0,0,0"], {}, r"no label column: none is named label, class, target, y"),
        ("1,0,0,0,0", ["1,0,0,0,0"], {}, "has no header row"),
        ("label,y,p1,p2,p3,p4", ["0,0,0,0,0,0"], {}, r"more than one column that could be the label \(label, y\)"),
        (_header(4), ["0,0,0,0,0"], {"label_column": "digit"},
         r"has no column 'digit' \(label_column\); its header is label, pixel1"),
        (_header(5), ["0,0,0,0,0,0"], {},
         r"5 pixel columns, which make no square image.*image_shape: \[H, W, C\] with H×W×C = 5"),
        (_header(4), ["0,0,0,0,0"], {"image_shape": (2, 3, 1)},
         r"image_shape \[2, 3, 1\] makes 6 values per image, but .* has 4"),
        (_header(4), ["0,0.5,0.2,1,0", "1,0,0.1,0,0"], {},
         r"\(e.g. 0.5 in column 'pixel1', row 2\): the pixels look scaled to 0–1.*round\(value × 255\)"),
        (_header(4), ["0,5.1,3.5,1.4,0.2"], {},
         r"values with fractions \(e.g. 5.1 in column 'pixel1', row 2\).*source: json"),
        (_header(4), ["0,0,0,0", "1,a,0,0,0"], {}, r"has no usable row \(t.csv:row 2: 4 values"),
        (_header(4), [], {}, "has no usable row"),
        (_header(4), ["1,0,0,0,0", "30,0,0,0,0"], {"label_names": {1: "one"}},
         r"no name for label 30 \(1 sample, e.g. t.csv:row 3\)"),
    ],
)
def test_bad_files_say_what_and_how_to_fix(tmp_path: Path, header, rows, options, message) -> None:
    with pytest.raises(DataError, match=message):
        load_source(_csv(tmp_path, header, rows, name="t.csv", **options))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DataError, match="is empty; a pixel CSV has a header row"):
        load_source(SourceSpec(source="pixel_csv", path=tmp_path / "empty.csv"))
    with pytest.raises(DataError, match="does not exist. Check dataset.path"):
        load_source(SourceSpec(source="pixel_csv", path=tmp_path / "nope.csv"))


def test_quoted_fields_are_unquoted(tmp_path: Path) -> None:
    data = load_source(_csv(tmp_path, '"label","p1","p2","p3","p4"', ['"cat",1,2,3,4', '"dog",5,6,7,8']))
    assert data.classes == ("cat", "dog") and data.x[1].ravel().tolist() == [5, 6, 7, 8]


def test_the_parse_is_cached_and_a_changed_file_is_read_again(tmp_path: Path, monkeypatch) -> None:
    spec = _csv(tmp_path, _header(4), [_row(0, [1] * 4), _row(1, [2] * 4)])
    calls = []
    real = pixel_csv.parse_pixel_csv
    monkeypatch.setattr(pixel_csv, "parse_pixel_csv", lambda *a: calls.append(1) or real(*a))
    first = load_source(spec)
    again = load_source(spec)
    assert len(calls) == 1 and again.sources == first.sources
    np.testing.assert_array_equal(again.x, first.x)
    load_source(spec.model_copy(update={"label_names": {0: "a", 1: "b"}}))  # other options: another entry
    assert len(calls) == 2
    spec.path.write_text(_header(4) + "\n" + _row(0, [3] * 4) + "\n" + _row(1, [3] * 4) + "\n"
                         + _row(1, [3] * 4) + "\n")
    assert len(load_source(spec)) == 3 and len(calls) == 3


def test_size_and_channel_overrides_apply(tmp_path: Path) -> None:
    rows = [_row(i % 3, IMAGES[i].ravel().tolist()) for i in range(6)]
    data = load_source(_csv(tmp_path, _header(9), rows), image_size=(6, 6), channels=3)
    assert data.x.shape == (6, 6, 6, 3)


def test_sign_mnist_size_parses_in_seconds(tmp_path: Path) -> None:
    """27,455 rows × 785 columns, as Kaggle's sign_mnist_train.csv; parsed by numpy, not value by value."""
    import time

    rng = np.random.default_rng(0)
    n = 27455
    x = rng.integers(0, 256, (n, 784), dtype=np.uint8)
    y = rng.integers(0, 25, n)
    text = np.array([str(i) for i in range(256)], dtype=object)[np.column_stack([y, x])].tolist()
    path = tmp_path / "sign_mnist_train.csv"
    path.write_text(_header(784) + "\n" + "\n".join(",".join(row) for row in text) + "\n")
    start = time.perf_counter()
    data = load_source(SourceSpec(source="pixel_csv", path=path))
    took = time.perf_counter() - start
    assert data.x.shape == (n, 28, 28, 1)
    np.testing.assert_array_equal(data.x.reshape(n, -1), x)
    assert took < 15, f"parsing took {took:.1f} s"
