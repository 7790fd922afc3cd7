"""The json source: .json lists and .jsonl lines of base64 images, pixel arrays or features."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from data_images import pixels
from PIL import Image

from practica.config.schema import SourceSpec
from practica.data import load_source
from practica.data.sources import decode, json_records
from practica.errors import DataError


def b64(array: np.ndarray, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def jsonl(path: Path, records: list, **options) -> SourceSpec:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return SourceSpec(source="json", path=path, **options)


def test_base64_images_in_json_lines(tmp_path: Path) -> None:
    imgs = [pixels(i, (5, 6), "L") for i in range(4)]
    records = [{"image": b64(a), "label": "cat" if i % 2 else "dog"} for i, a in enumerate(imgs)]
    records[1]["image"] = "data:image/png;base64," + records[1]["image"]  # a data URL, as browsers give
    data = load_source(jsonl(tmp_path / "pets.jsonl", records))
    assert data.x.shape == (4, 5, 6, 1) and data.kind == "image"
    np.testing.assert_array_equal(data.x[..., 0], np.stack(imgs))
    assert data.classes == ("cat", "dog") and data.y.tolist() == [1, 0, 1, 0]
    assert data.sources == tuple(f"pets.jsonl:line {i}" for i in range(1, 5)) and data.name == "pets"


def test_rgb_images_in_a_json_list_resized_and_converted_by_prepare_image(tmp_path: Path) -> None:
    imgs = [pixels(i, (8, 8)) for i in range(3)]
    path = tmp_path / "rgb.json"
    path.write_text(json.dumps([{"img": b64(a), "y": i} for i, a in enumerate(imgs)]))
    data = load_source(SourceSpec(source="json", path=path, image_size=(4, 4), channels=1))
    assert data.x.shape == (3, 4, 4, 1)
    expected = decode.prepare_image(Image.fromarray(imgs[2]), (4, 4), 1)
    np.testing.assert_array_equal(data.x[2, ..., 0], expected)
    assert data.sources[0] == "rgb.json:record 1" and data.classes == ("0", "1", "2")


def test_images_of_different_sizes_ask_for_image_size(tmp_path: Path) -> None:
    spec = jsonl(tmp_path / "a.jsonl", [{"image": b64(pixels(0, (4, 4))), "label": 0},
                                        {"image": b64(pixels(1, (5, 4))), "label": 1}])
    with pytest.raises(DataError, match=r"a.jsonl:line 1 is 4×4 .* a.jsonl:line 2 is 5×4.*image_size"):
        load_source(spec)


def test_nested_pixels_with_declared_fields_and_label_names(tmp_path: Path) -> None:
    imgs = [pixels(i, (3, 3), "L") for i in range(4)]
    records = [{"px": a.tolist(), "digit": i % 2} for i, a in enumerate(imgs)]
    records[3]["px"] = imgs[3].ravel().tolist()  # flat is fine too
    data = load_source(jsonl(tmp_path / "p.jsonl", records, fields={"pixels": "px", "label": "digit"},
                             label_names={0: "even", 1: "odd"}))
    assert data.x.shape == (4, 3, 3, 1)
    np.testing.assert_array_equal(data.x[..., 0], np.stack(imgs))
    assert data.classes == ("even", "odd") and data.y.tolist() == [0, 1, 0, 1]


def test_flat_pixels_take_the_declared_shape(tmp_path: Path) -> None:
    records = [{"pixels": list(range(6)), "label": k} for k in (0, 1)]
    data = load_source(jsonl(tmp_path / "p.jsonl", records, image_shape=(2, 3, 1)))
    assert data.x.shape == (2, 2, 3, 1) and data.x[0, 1, 2, 0] == 5
    with pytest.raises(DataError, match=r"flat lists of 6 values, which make no square image.*image_shape"):
        load_source(jsonl(tmp_path / "q.jsonl", records))


def test_numeric_feature_fields_are_found_without_declaring_them(tmp_path: Path) -> None:
    records = [{"id": i, "a": float(i), "b": i * 2, "note": "x", "species": "s" + str(i % 2)} for i in range(4)]
    data = load_source(jsonl(tmp_path / "f.jsonl", records, fields={"label": "species"}))
    assert data.kind == "features" and data.x.dtype == np.float32
    np.testing.assert_array_equal(data.x, [[0, 0], [1, 2], [2, 4], [3, 6]])
    assert data.classes == ("s0", "s1")


def test_declared_feature_fields_keep_their_order_and_a_features_list_works(tmp_path: Path) -> None:
    records = [{"a": 1, "b": 2, "c": 3, "label": 0}, {"a": 4, "b": 5, "c": 6, "label": 1}]
    data = load_source(jsonl(tmp_path / "f.jsonl", records, fields={"features": ["c", "a"]}))
    np.testing.assert_array_equal(data.x, [[3, 1], [6, 4]])
    listed = load_source(jsonl(tmp_path / "g.jsonl",
                               [{"features": [1, 2], "label": 0}, {"features": [3, 4], "label": 1}]))
    np.testing.assert_array_equal(listed.x, [[1, 2], [3, 4]])


def test_bad_records_are_skipped_and_listed(tmp_path: Path) -> None:
    good = b64(pixels(0, (4, 4), "L"))
    records = [
        {"image": good, "label": 0},                                    # 1 fine
        "{not json",                                                    # 2
        {"image": "@@@not base64@@@", "label": 1},                      # 3
        {"image": base64.b64encode(b"plain text").decode(), "label": 1},  # 4
        {"image": good},                                                # 5 no label
        {"image": 12, "label": 1},                                      # 6
        {"label": 1},                                                   # 7 no image
        [1, 2, 3],                                                      # 8 not an object
        {"image": good, "label": [1]},                                  # 9
        {"image": good, "label": 1},                                    # 10 fine
    ]
    data = load_source(jsonl(tmp_path / "r.jsonl", records))
    assert data.sources == ("r.jsonl:line 1", "r.jsonl:line 10") and data.classes == ("0", "1")
    assert tuple(map(str, data.skipped)) == (
        "r.jsonl:line 2: not a JSON record (Expecting property name enclosed in double quotes at column 2)",
        "r.jsonl:line 3: the image is not valid base64",
        "r.jsonl:line 4: not an image: the base64 decodes to bytes that are no format Pillow reads (PNG, JPEG, ...)",
        "r.jsonl:line 5: no label ('label' is missing)",
        "r.jsonl:line 6: 'image' is a number, not a base64 string of a PNG or JPEG",
        "r.jsonl:line 7: no 'image'",
        "r.jsonl:line 8: a record is a JSON object ({...}), not a list",
        "r.jsonl:line 9: the label 'label' is a list; give a class index or a class name",
    )


def test_bad_pixels_and_features_are_skipped(tmp_path: Path) -> None:
    px = [[0, 1], [2, 3]]
    records = [
        {"pixels": px, "label": 0},
        {"pixels": [[0, 1], [2]], "label": 1},          # ragged
        {"pixels": [[0, 1, 2], [2, 3, 4]], "label": 1},  # another shape
        {"pixels": [[0, 1], [2, 300]], "label": 1},      # out of range
        {"pixels": [[0, "a"], [2, 3]], "label": 1},      # not numbers
        {"pixels": px, "label": 1},
    ]
    data = load_source(jsonl(tmp_path / "p.jsonl", records))
    assert len(data) == 2 and tuple(map(str, data.skipped)) == (
        "p.jsonl:line 2: 'pixels' is not a rectangular array of numbers",
        "p.jsonl:line 3: pixels of shape 2×3; expected 2×2×1 (most records)",
        "p.jsonl:line 4: pixel value 300 is outside 0–255",
        "p.jsonl:line 5: 'pixels' is not a rectangular array of numbers",
    )
    feats = [{"a": 1, "b": 2, "label": 0}, {"a": "x", "b": 2, "label": 1}, {"b": 2, "label": 1},
             {"a": True, "b": 1, "label": 1}, {"a": 3, "b": 4, "label": 1}]
    data = load_source(jsonl(tmp_path / "f.jsonl", feats))
    assert data.x.tolist() == [[1, 2], [3, 4]] and tuple(map(str, data.skipped)) == (
        "f.jsonl:line 2: feature 'a' is 'x', not a number",
        "f.jsonl:line 3: no feature 'a'",
        "f.jsonl:line 4: feature 'a' is True, not a number",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"image": "x", "label": 1}', r"holds a JSON object, not a list of records"),
        ('[{"a": 1, "label": 0}', r"is not valid JSON: Expecting ',' delimiter at line 1"),
        ('{"a": 1}\n{"a": 2}\n', r"not valid JSON: Extra data .* It looks like JSON Lines"),
        ("[]", "has no record to read"),
        ('[{"name": "x", "label": 0}]', r"holds no sample the json source can read \(its keys are name, label\)"),
        ('[{"a": 1, "kind": 0}]',
         r"has no label field \(label, class, target, y\); its keys are a, kind.*fields: \{label: NAME\}"),
        ('[{"image": "@@", "label": 0}]',
         r"no record could be used \(t.json:record 1: the image is not valid base64\)"),
    ],
)
def test_bad_files_say_what_and_how_to_fix(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.json").write_text(text)
    with pytest.raises(DataError, match=message):
        load_source(SourceSpec(source="json", path=tmp_path / "t.json"))


def test_image_shape_is_for_pixel_arrays_only(tmp_path: Path) -> None:
    spec = jsonl(tmp_path / "a.jsonl", [{"image": b64(pixels(0, (4, 4))), "label": 0}], image_shape=(4, 4, 3))
    with pytest.raises(DataError, match=r"image_shape applies to pixel arrays, but the records .* hold a base64 "
                                        r"image in 'image', the label in 'label'; remove image_shape \(set image_size"):
        load_source(spec)


def test_a_declared_field_absent_from_every_record(tmp_path: Path) -> None:
    spec = jsonl(tmp_path / "a.jsonl", [{"image": "x", "label": 0}], fields={"image": "photo"})
    with pytest.raises(DataError, match=r"no record could be used \(a.jsonl:line 1: no 'photo'\)"):
        load_source(spec)


def test_many_images_decode_in_a_process_pool_and_are_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(decode, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(decode, "CHUNK_SIZE", 3)
    monkeypatch.setattr(decode, "_cpu_count", lambda: 2)
    imgs = [pixels(i, (4, 4)) for i in range(8)]
    records = [{"image": b64(a), "label": i % 2} for i, a in enumerate(imgs)]
    records[5]["image"] = "!!"
    spec = jsonl(tmp_path / "many.jsonl", records)
    data = load_source(spec)
    np.testing.assert_array_equal(data.x, np.stack([a for i, a in enumerate(imgs) if i != 5]))
    assert tuple(map(str, data.skipped)) == ("many.jsonl:line 6: the image is not valid base64",)
    monkeypatch.setattr(json_records, "parse_json_records", lambda *a: pytest.fail("not read from the cache"))
    np.testing.assert_array_equal(load_source(spec).x, data.x)


def test_feature_tables_are_cached_too(tmp_path: Path, monkeypatch) -> None:
    spec = jsonl(tmp_path / "f.jsonl", [{"a": 0.5, "label": 0}, {"a": 1.5, "label": 1}])
    first = load_source(spec)
    monkeypatch.setattr(json_records, "parse_json_records", lambda *a: pytest.fail("not read from the cache"))
    again = load_source(spec)
    assert again.x.dtype == np.float32 and again.x.tolist() == first.x.tolist() == [[0.5], [1.5]]


def test_a_json_file_nested_too_deep_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=r"deep.json: .* nested deeper than Python's JSON reader allows"):
        load_source(SourceSpec(source="json", path=tmp_path / "deep.json"))


def test_a_json_line_nested_too_deep_is_skipped_and_listed(tmp_path: Path) -> None:
    deep = '{"features": ' + "[" * 100_000 + "]" * 100_000 + ', "label": 0}'
    data = load_source(jsonl(tmp_path / "d.jsonl", [deep, {"features": [1, 2], "label": 0},
                                                    {"features": [3, 4], "label": 1}]))
    assert data.x.tolist() == [[1, 2], [3, 4]]
    assert tuple(map(str, data.skipped)) == (
        "d.jsonl:line 1: nested deeper than Python's JSON reader allows (about 1,000 levels; "
        "a record needs at most 5)",
    )
    (tmp_path / "all.jsonl").write_text(deep + "\n")
    with pytest.raises(DataError, match=r"all.jsonl:line 1: nested deeper"):
        load_source(SourceSpec(source="json", path=tmp_path / "all.jsonl"))
