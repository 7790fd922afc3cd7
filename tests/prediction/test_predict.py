"""``practica predict``: files, folders, pixel CSVs and JSON records in; one row per input out.

The inputs are the tiny run's test digits (8×8 grayscale, classes "0".."9") written as PNG
files (lossless, so predictions must equal the bundle's on the same arrays), JPEG files,
CSV rows and JSON records.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil

import numpy as np
import pytest
from cli_support import invoke, said
from PIL import Image

from practica.bundle import InputSpec, load_bundle
from practica.errors import InputError
from practica.prediction import Predictions, open_inputs, write_rows
from practica.prediction.sources import resolve_label

HEADER = ["label"] + [f"pixel{i}" for i in range(1, 65)]


def rows_of(bundle, *inputs, **kw):
    predictions = Predictions(bundle, inputs, **kw)
    return list(predictions), predictions.summary


def png_bytes(arr, mode="L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(), mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def test_digits(tiny_run):
    x, y = tiny_run.splits.test.x[:40], tiny_run.splits.test.y[:40]
    return x, y


@pytest.fixture(scope="module")
def cnn(cnn_bundle):
    return load_bundle(cnn_bundle)


@pytest.fixture(scope="module")
def class_folder(test_digits, tmp_path_factory):
    """test/<class>/<i>.png, as CIFAR-10's test folder is laid out."""
    root = tmp_path_factory.mktemp("digits") / "test"
    x, y = test_digits
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        (root / str(label) / f"{i:03}.png").write_bytes(png_bytes(img))
    return root


def expected(bundle, x):
    p = bundle.predict_proba(x)
    return [bundle.classes[i] for i in p.argmax(1)], p.max(1)


def test_class_folder_gives_true_labels_and_the_bundles_accuracy(cnn, class_folder, test_digits):
    x, y = test_digits
    rows, summary = rows_of(cnn, class_folder)
    order = np.argsort([f"{label}/{i:03}" for i, label in enumerate(y)])  # the folder walk's sorted order
    labels, probs = expected(cnn, x[order])
    assert [r.prediction for r in rows] == labels
    assert np.allclose([r.probability for r in rows], probs, atol=1e-6)
    assert [r.true_label for r in rows] == [str(v) for v in y[order]]
    truth = float(np.mean(np.array(labels) == np.array([str(v) for v in y[order]])))
    assert summary.labelled == summary.predicted == len(x) and summary.failed == 0
    assert summary.accuracy == pytest.approx(truth)
    assert rows[0].input == str(class_folder / rows[0].true_label / rows[0].input.rsplit("/", 1)[1])

    result = invoke("predict", cnn.root, class_folder)
    assert result.exit_code == 0
    assert said(result,
                f"{len(x)} predicted, 0 failed; accuracy {100 * truth:.2f}% ({summary.correct} correct of {len(x)}")
    assert said(result, "more rows")  # 40 inputs, 20 shown


def test_flat_and_nested_folders_have_no_labels(cnn, test_digits, tmp_path):
    x, _ = test_digits
    for i in range(6):
        folder = tmp_path / ("batch-a" if i < 3 else "batch-b/deeper")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.PNG").write_bytes(png_bytes(x[i]))
    (tmp_path / "notes.txt").write_text("not an image, not read")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    rows, summary = rows_of(cnn, tmp_path)
    assert [r.prediction for r in rows] == expected(cnn, x[:6])[0]
    assert all(r.true_label is None for r in rows) and summary.accuracy is None and summary.predicted == 6
    result = invoke("predict", cnn.root, tmp_path)
    assert result.exit_code == 0 and said(result, "6 predicted, 0 failed") and not said(result, "accuracy")


def test_image_files_png_jpeg_and_rgb_are_converted_as_in_training(cnn, test_digits, tmp_path):
    x, _ = test_digits
    png, jpg, rgb, big = tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "c.png", tmp_path / "d.jpeg"
    png.write_bytes(png_bytes(x[0]))
    Image.fromarray(x[1].squeeze()).save(jpg, quality=95)
    Image.fromarray(np.repeat(x[2], 3, axis=2)).save(rgb)  # gray as RGB: converts back to the same gray
    Image.fromarray(x[3].squeeze()).resize((32, 32), Image.Resampling.NEAREST).save(big, quality=95)
    rows, summary = rows_of(cnn, png, jpg, rgb, big)
    assert summary.predicted == 4 and summary.failed == 0
    assert [r.input for r in rows] == [str(p) for p in (png, jpg, rgb, big)]
    assert rows[0].prediction == expected(cnn, x[:1])[0][0] and rows[2].prediction == expected(cnn, x[2:3])[0][0]


@pytest.mark.parametrize("label_kind", ["names", "indices", "none"])
def test_pixel_csv(cnn, test_digits, tmp_path, label_kind):
    x, y = test_digits
    path = tmp_path / "digits.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER if label_kind != "none" else HEADER[1:])
        for img, label in zip(x[:10], y[:10], strict=True):
            pixels = img.reshape(-1).tolist()
            w.writerow(pixels if label_kind == "none"
                       else [cnn.classes[label] if label_kind == "names" else int(label)] + pixels)
    rows, summary = rows_of(cnn, path)
    assert [r.prediction for r in rows] == expected(cnn, x[:10])[0]
    assert rows[0].input == f"{path}:row 2" and rows[-1].input == f"{path}:row 11"  # the header is row 1
    if label_kind == "none":
        assert summary.accuracy is None
    else:
        assert [r.true_label for r in rows] == [str(v) for v in y[:10]] and summary.labelled == 10


def test_labels_are_class_names_or_indices():
    classes = ("cat", "dog", "7")
    assert resolve_label("dog", classes) == "dog" and resolve_label(1, classes) == "dog"
    assert resolve_label(" 0", classes) == "cat"
    assert resolve_label("7", classes) == "7"  # a class name wins over an index
    with pytest.raises(InputError,
                       match=r"label 'bird' is neither a class of this model \(cat, dog, 7\) nor a class index 0–2"):
        resolve_label("bird", classes)
    with pytest.raises(InputError, match="neither"):
        resolve_label(3, classes)


def test_json_and_json_lines_records(cnn, test_digits, tmp_path):
    x, y = test_digits
    records = [
        {"id": "first", "image": base64.b64encode(png_bytes(x[0])).decode(), "label": int(y[0])},
        {"pixels": x[1].squeeze().tolist(), "label": str(y[1])},
        {"pixels": x[2].reshape(-1).tolist()},
    ]
    listed, lines = tmp_path / "inputs.json", tmp_path / "inputs.jsonl"
    listed.write_text(json.dumps(records))
    lines.write_text(json.dumps(records[0]) + "\n\n" + "\n".join(json.dumps(r) for r in records[1:]) + "\n")
    rows, summary = rows_of(cnn, listed, lines)
    assert [r.input for r in rows] == ["first", f"{listed}:record 2", f"{listed}:record 3",
                                       "first", f"{lines}:line 3", f"{lines}:line 4"]
    assert [r.prediction for r in rows] == expected(cnn, x[:3])[0] * 2
    assert [r.true_label for r in rows[:3]] == [str(y[0]), str(y[1]), None]
    assert summary.predicted == 6 and summary.labelled == 4


def test_top_k_and_csv_output(cnn, class_folder, tmp_path):
    out = tmp_path / "preds.csv"
    result = invoke("predict", cnn.root, class_folder, "--out", out, "--top-k", "2")
    assert result.exit_code == 0 and said(result, f"wrote 40 rows to {out}")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["input", "prediction", "probability", "top_k", "true_label", "error",
                             "ood_score", "ood_flag", "ood_reason"] and len(rows) == 40
    for row in rows:
        assert float(row["ood_score"]) >= 0 and row["ood_flag"] in ("true", "false")
        assert (row["ood_reason"] != "") == (row["ood_flag"] == "true")
        ranked = [part.split(":") for part in row["top_k"].split(";")]
        assert len(ranked) == 2 and ranked[0] == [row["prediction"], row["probability"]]
        assert float(ranked[0][1]) >= float(ranked[1][1]) and row["error"] == "" and row["true_label"]


def test_json_output_and_top_k_beyond_the_classes(cnn, class_folder, tmp_path):
    out = tmp_path / "preds.json"
    assert invoke("predict", cnn.root, class_folder, "--out", out, "--top-k", "50").exit_code == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 40 and set(rows[0]) == {"input", "prediction", "probability", "top_k", "true_label", "error",
                                                "ood"}
    assert set(rows[0]["ood"]) == {"score", "flag", "reason"}
    assert len(rows[0]["top_k"]) == 10 and sum(t["probability"] for t in rows[0]["top_k"]) == pytest.approx(1, abs=1e-4)
    assert rows[0]["top_k"][0] == {"label": rows[0]["prediction"], "probability": rows[0]["probability"]}
    assert rows[0]["error"] is None


def test_bad_items_become_error_rows(cnn, test_digits, tmp_path):
    x, _ = test_digits
    good = png_bytes(x[0])
    jpeg = io.BytesIO()
    Image.fromarray(x[0].squeeze()).resize((64, 64)).save(jpeg, "JPEG")
    files = tmp_path / "files"
    files.mkdir()
    (files / "a-good.png").write_bytes(good)
    (files / "b-truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (files / "c-empty.png").write_bytes(b"")
    (files / "d-text.png").write_text("hello, I am not a picture")
    table = tmp_path / "rows.csv"
    pixels = x[0].reshape(-1).tolist()
    table.write_text("\n".join([
        ",".join(HEADER),
        ",".join(map(str, [3] + pixels)),
        ",".join(map(str, [3] + pixels[:-1])),
        ",".join(map(str, [3] + pixels[:-1] + ["dark"])),
        ",".join(map(str, [3] + pixels[:-1] + [300])),
        ",".join(map(str, ["bird"] + pixels)),
    ]) + "\n")
    bad_header = tmp_path / "wide.csv"
    bad_header.write_text(",".join(HEADER + ["pixel65"]) + "\n" + ",".join(["1"] * 66) + "\n")
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join([
        json.dumps({"image": "not base64!"}),
        json.dumps({"pixels": [[1, 2], [3, 4]]}),
        json.dumps({"features": [1, 2]}),
        "{not json",
    ]) + "\n")
    rows, summary = rows_of(cnn, files, table, bad_header, records)
    errors = {r.input.rsplit("/", 1)[-1]: r.error for r in rows}
    assert summary.predicted == 2 and summary.failed == len(rows) - 2
    assert errors["a-good.png"] is None and errors["rows.csv:row 2"] is None
    assert "truncated" in errors["b-truncated.jpg"] and errors["b-truncated.jpg"].startswith("cannot decode the image")
    assert errors["c-empty.png"] == "cannot decode the image: empty file"
    assert "not an image PIL can read" in errors["d-text.png"]
    assert errors["rows.csv:row 3"] == "the row has 64 values; the header has 65 columns"
    assert errors["rows.csv:row 4"] == "non-numeric value 'dark' in column pixel64"
    assert "from 0 to 255" in errors["rows.csv:row 5"]
    assert "label 'bird' is neither a class" in errors["rows.csv:row 6"]
    assert errors["wide.csv"] == (f"{bad_header} has 65 value columns; this model takes 8×8×1 = 64 pixel values "
                                  "(0–255) per row (plus an optional label column named label/class/target/y)")
    assert "not valid base64" in errors["records.jsonl:line 1"]
    assert "'pixels' has shape 2×2; this model takes 8×8×1" in errors["records.jsonl:line 2"]
    assert "send 'image' or 'pixels' instead of 'features'" in errors["records.jsonl:line 3"]
    assert errors["records.jsonl:line 4"].startswith("not a JSON record")
    assert all(r.prediction is None and r.top_k == () for r in rows if r.error)

    out = tmp_path / "preds.csv"
    result = invoke("predict", cnn.root, files, table, bad_header, records, "--out", out)
    assert result.exit_code == 0 and said(result, f"2 predicted, {summary.failed} failed")
    assert said(result, f"failed: {files / 'b-truncated.jpg'}: cannot decode the image")
    with open(out, newline="") as f:
        written = list(csv.DictReader(f))
    assert [r["error"] for r in written] == [r.error or "" for r in rows]
    assert all(r["prediction"] == "" for r in written if r["error"])


def test_invalid_json_file_and_header_less_csv_are_one_error_row_each(cnn, tmp_path):
    broken, numbers = tmp_path / "broken.json", tmp_path / "numbers.csv"
    broken.write_text('[{"pixels": [1, 2')
    numbers.write_text(",".join(["0"] * 64) + "\n")
    rows, summary = rows_of(cnn, broken, numbers)
    assert [r.input for r in rows] == [str(broken), str(numbers)] and summary.failed == 2
    assert rows[0].error.startswith("not a readable JSON file")
    assert "has no header row" in rows[1].error


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: tmp / "nope.png", "nope.png does not exist; give an image file (.bmp, .gif"),
    (lambda tmp: tmp / "x.txt", "8×8 grayscale images, not texts"),
    (lambda tmp: tmp / "empty", "holds no image files"),
])
def test_bad_input_arguments_are_fatal(cnn, tmp_path, make, message):
    (tmp_path / "x.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    path = make(tmp_path)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Predictions(cnn, [path])
    result = invoke("predict", cnn.root, path)
    assert result.exit_code == 2 and said(result, "error:", str(path))


def test_bad_bundle_or_output_is_fatal(cnn_bundle, class_folder, tmp_path):
    result = invoke("predict", tmp_path / "no-bundle", class_folder)
    assert result.exit_code == 2 and said(result, "no bundle at")
    altered = tmp_path / "altered"
    shutil.copytree(cnn_bundle, altered)
    (altered / "model.onnx").write_bytes((altered / "model.onnx").read_bytes() + b"\0")
    result = invoke("predict", altered, class_folder)
    assert result.exit_code == 2 and said(result, "was altered after export (changed since export: model.onnx)")
    result = invoke("predict", cnn_bundle, class_folder, "--out", tmp_path / "preds.txt")
    assert result.exit_code == 2 and said(result, "must end in .csv or .json")
    assert not (tmp_path / "preds.txt").exists()


def test_an_interrupted_write_leaves_no_file(cnn, class_folder, tmp_path):
    def interrupted():
        yield from list(Predictions(cnn, [class_folder]))[:3]
        raise KeyboardInterrupt

    out = tmp_path / "preds.json"
    with pytest.raises(KeyboardInterrupt):
        write_rows(interrupted(), out)
    assert list(tmp_path.iterdir()) == []


def test_the_baseline_bundle_predicts_too(baseline_bundle, class_folder, test_digits):
    bundle = load_bundle(baseline_bundle)
    rows, summary = rows_of(bundle, class_folder)
    x, y = test_digits
    order = np.argsort([f"{label}/{i:03}" for i, label in enumerate(y)])
    assert [r.prediction for r in rows] == expected(bundle, x[order])[0]
    assert summary.predicted == len(x) and summary.accuracy is not None


def test_feature_csv_columns_are_matched_by_name(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("class,c,a,b\nyes,3,1,2\nno,6,4,x\n")
    (source,) = open_inputs([path], InputSpec("features", (3,), ("a", "b", "c")), ("no", "yes"))
    first, second = list(source.items)
    assert first.array.tolist() == [1, 2, 3] and first.label == "yes"
    assert second.error == "non-numeric value 'x' in column b" and second.label == "no"


def test_a_feature_model_reads_csv_and_json_and_refuses_images(tmp_path):
    from practica.config.load import suite_from_dict
    from practica.pipeline.suite import run_suite

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "table.npz", x=x, y=y, classes=np.array(["neg", "pos"]))
    run = run_suite(suite_from_dict({
        "name": "table", "dataset": {"source": "npz", "path": str(tmp_path / "table.npz")},
        "experiments": [{"name": "logreg", "model": {"sklearn": "logistic_regression"}}],
        "evaluation": {"latency_samples": 5, "throughput_batch": 16},
    }), runs_root=tmp_path / "runs")
    bundle = load_bundle(run.bundle)
    table, records = tmp_path / "rows.csv", tmp_path / "rows.json"
    table.write_text("f1,f2,f3,f4,target\n" + "\n".join(
        ",".join(map(str, [*row, "pos" if label else "neg"])) for row, label in zip(x[:5].tolist(), y[:5], strict=True)
    ) + "\n")
    records.write_text(json.dumps([{"features": x[5].tolist(), "label": int(y[5])}, {"pixels": [1, 2, 3, 4]}]))
    rows, summary = rows_of(bundle, table, records)
    assert [r.prediction for r in rows[:6]] == expected(bundle, x[:6])[0]
    assert summary.labelled == 6 and summary.failed == 1 and "not pixels; send 'features' instead" in rows[6].error
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    with pytest.raises(InputError, match="this model takes 4 numeric features, not images"):
        Predictions(bundle, [image])


def test_an_image_file_over_the_pixel_limit_is_refused_not_decoded(cnn, test_digits, tmp_path):
    x, _ = test_digits
    Image.new("L", (4100, 4100)).save(tmp_path / "a-huge.png")  # 16.8 megapixels, over the default 16.7
    (tmp_path / "b-digit.png").write_bytes(png_bytes(x[0]))
    out = tmp_path / "preds.json"
    result = invoke("predict", cnn.root, tmp_path / "a-huge.png", tmp_path / "b-digit.png", "--out", out)
    assert result.exit_code == 0, result.output
    huge, digit = json.loads(out.read_text())
    assert huge["error"] == ("the image is 4100×4100 pixels, over the limit of 16,777,216 pixels per image; "
                             "resize it first (the model takes 8×8)")
    assert digit["error"] is None and digit["prediction"] == expected(cnn, x[:1])[0][0]
    rows, _ = rows_of(cnn, tmp_path / "b-digit.png", max_image_pixels=63)  # the limit is the caller's to set
    assert rows[0].error.startswith("the image is 8×8 pixels, over the limit of 63 pixels per image")


def test_a_16_bit_png_predicts_as_its_8_bit_pixels(cnn, test_digits, tmp_path):
    x, _ = test_digits
    wide = (x[0].squeeze(-1).astype(np.uint32) * 257).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    (row,), _ = rows_of(cnn, tmp_path / "wide.png")
    labels, probs = expected(cnn, x[:1])
    assert row.error is None and (row.prediction, row.probability) == (labels[0], pytest.approx(float(probs[0])))


def test_a_table_models_ignored_columns_and_target_are_taken_and_dropped_unknown_ones_refused(tmp_path):
    """The same rule as the HTTP service: the suite's ignored columns and the target may be given, and are
    dropped; a column the model never had is an error, in a CSV as in JSON records."""
    from practica.data.sources.tabular import Column, TableSchema

    table = TableSchema((Column("a", "numeric"), Column("zone", "categorical", ("n", "s"))), "y", ("id",))
    spec = InputSpec("features", (2,), ("a", "zone"), table)
    rows = tmp_path / "rows.csv"
    rows.write_text("id,zone,a,y\n7,s,1.5,yes\n")
    records = tmp_path / "rows.jsonl"
    records.write_text(json.dumps({"features": {"a": 1.5, "zone": "s", "id": 7, "y": "yes"}}) + "\n"
                       + json.dumps({"features": {"a": 1.5, "zone": "s", "colour": "red"}}) + "\n")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("a,zone,colour\n1.5,s,red\n")
    csv_source, json_source, unknown_source = open_inputs([rows, records, unknown], spec, ("no", "yes"))
    (from_csv,), (from_json, bad_json), (bad_csv,) = (list(s.items) for s in (csv_source, json_source, unknown_source))
    assert from_csv.label == "yes" and from_csv.array.tolist() == from_json.array.tolist() == [1.5, 1.0]
    assert from_json.error is None
    assert "unknown column 'colour'" in bad_json.error and "unknown columns ['colour']" in bad_csv.error


@pytest.mark.parametrize("which", ["cnn", "baseline"])
def test_rows_say_which_inputs_do_not_look_like_the_training_data(cnn, baseline_bundle, test_digits, tmp_path, which):
    from practica.bundle.ood import OodScorer

    bundle = cnn if which == "cnn" else load_bundle(baseline_bundle)
    x = test_digits[0][:6]
    folder = tmp_path / "in"
    folder.mkdir()
    for i, img in enumerate([*x, 255 - x[0], np.zeros_like(x[0])]):
        (folder / f"{i}.png").write_bytes(png_bytes(img))
    rows, summary = rows_of(bundle, folder)
    expected_ood = OodScorer.from_bundle(bundle).score(x, bundle.infer(x).embedding)
    assert [r.ood_flag for r in rows[:6]] == expected_ood.flags.tolist()
    assert [r.ood_score for r in rows[:6]] == pytest.approx(expected_ood.scores.tolist(), rel=1e-5)
    assert rows[6].ood_flag is rows[7].ood_flag is True and "farther from every class" in rows[7].ood_reason
    assert summary.unfamiliar == sum(bool(r.ood_flag) for r in rows) >= 2
    out = tmp_path / "rows.csv"
    result = invoke("predict", bundle.root, folder, "--out", out)
    assert result.exit_code == 0 and said(result, f"{summary.unfamiliar} unlike the training data")
    with open(out, newline="") as f:
        written = list(csv.DictReader(f))
    assert [w["ood_flag"] for w in written] == [str(r.ood_flag).lower() for r in rows]
