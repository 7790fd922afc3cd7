"""``practica data inspect``: a suite, a folder or a file in; checks, JSON and a page out; clear errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from practica.cli import app

runner = CliRunner()


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((32, 32), Image.Resampling.BICUBIC)).astype(np.int16)
    return np.clip(smooth + rng.integers(-6, 7, smooth.shape), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def save(path, img) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture
def data_dir(tmp_path):
    """data/train/{cat,dog}/*.png and data/test/{cat,dog}/*.png: one exact copy within train, a
    test image that is a train image re-encoded (a leak), and one with the other label."""
    root = tmp_path / "data"
    for i in range(6):
        save(root / "train" / "cat" / f"c{i}.png", photo(i))
        save(root / "train" / "dog" / f"d{i}.png", photo(100 + i))
    save(root / "train" / "dog" / "d9.png", photo(101))  # exact copy of d1.png
    save(root / "test" / "cat" / "t0.png", jpeg(photo(2)))  # leak of train/cat/c2.png
    save(root / "test" / "dog" / "t1.png", jpeg(photo(3)))  # leak of c3.png, labelled dog
    save(root / "test" / "dog" / "t2.png", photo(200))
    return root


def invoke(*args):
    result = runner.invoke(app, ["data", "inspect", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def words(result) -> str:
    return " ".join(result.output.split())


def write_suite(tmp_path, dataset) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "pets", "dataset": dataset,
                                    "experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}}]}))
    return str(path)


def test_inspect_a_suite_with_json_and_html(tmp_path, data_dir):
    suite = write_suite(tmp_path, {"source": "folder", "path": "data/train",
                                   "test": {"source": "folder", "path": "data/test"}})
    out_json, out_html = tmp_path / "out" / "h.json", tmp_path / "out" / "h.html"
    result = invoke(suite, "--json", out_json, "--html", out_html, "--show", "3")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "pets" in text and "train 14" not in text
    for expected in ("Exact duplicates within a part", "Near duplicates across parts (leakage)",
                     "2 samples of test (66.67%) near a train sample", "Duplicates with different labels", "warn"):
        assert expected in text, expected
    assert "c3.png" in text and "t1.png" in text  # the conflicting pair, by file

    report = json.loads(out_json.read_text())
    assert report["title"] == "pets" and [p["name"] for p in report["parts"]] == ["train", "test"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["exact_within"]["count"] == 1
    (pair,) = checks["exact_within"]["findings"]
    assert pair["a"]["source"].endswith("dog/d1.png") and pair["b"]["source"].endswith("dog/d9.png")
    leaks = {(f["a"]["source"].split("/")[-1], f["b"]["source"].split("/")[-1])
             for f in checks["near_across"]["findings"]}
    assert leaks == {("c2.png", "t0.png"), ("c3.png", "t1.png")}
    assert checks["label_conflicts"]["count"] == 1

    page = out_html.read_text()
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") >= 6
    assert "t1.png" in page and "labels differ" in page and "<script" not in page


def test_inspect_a_folder_with_train_and_test_parts(data_dir):
    result = invoke(data_dir, "--no-near")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "train 13" in text and "test 3" in text
    assert "Near duplicates" not in text and "Exact duplicates within a part" in text


def test_inspect_a_class_folder_and_an_npz(tmp_path, data_dir):
    result = invoke(data_dir / "train")
    assert result.exit_code == 0, result.output
    assert "data 13" in " ".join(result.output.split())

    x = np.stack([photo(i) for i in range(5)] + [photo(0)])
    np.savez(tmp_path / "set.npz", x=x, y=np.array([0, 1, 0, 1, 0, 1]))
    out = tmp_path / "npz.json"
    result = invoke(tmp_path / "set.npz", "--json", out)
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    (pair,) = checks["exact_within"]["findings"]
    assert (pair["a"]["source"], pair["b"]["source"]) == ("set.npz[0]", "set.npz[5]")
    assert checks["label_conflicts"]["count"] == 1  # the copy is labelled 1, the original 0


def test_inspect_a_feature_table(tmp_path):
    # the loaders refuse NaN and infinite values themselves; the checks still see constant columns and copies
    x = np.array([[1.0, 0.0, 0.5], [2.0, 0.0, 1.0], [3.0, 0.0, -2.0], [2.0, 0.0, 1.0]], dtype=np.float32)
    np.savez(tmp_path / "table.npz", x=x, y=np.array([0, 1, 0, 0]))
    result = invoke(tmp_path / "table.npz")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "ok Missing values" in text and "ok Infinite values" in text and "Near duplicates" not in text
    assert "warning Constant columns: 1 column of 3 never changes in data (columns 1)" in text
    assert "table.npz[1] (1) table.npz[3] (0)" in text  # the duplicate row, with its two labels


def test_inspect_errors_exit_2(tmp_path, data_dir):
    result = invoke(tmp_path / "nowhere")
    assert result.exit_code == 2 and "nowhere does not exist" in words(result)

    result = invoke(tmp_path / "missing.yaml")
    assert result.exit_code == 2 and words(result).startswith("error:")

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "dataset": {"source": "folder"}, "experiments": []}))
    result = invoke(bad)
    assert result.exit_code == 2 and "needs a 'path'" in words(result)

    result = invoke(data_dir, "--html", tmp_path)
    assert result.exit_code == 2 and "is a folder" in words(result)
