"""Nested train/test folders, ``infer_source``, the new sources' suite fields, and each new source
through ``prepare_data`` from a suite dict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from data_images import image_tree, pixels, write_image

from practica.config.load import load_suite, suite_from_dict
from practica.config.schema import DatasetSpec, JsonFields, SourceSpec
from practica.data import load_source, prepare_data
from practica.data.sources.infer import infer_source
from practica.errors import ConfigError, DataError


def _nested(root: Path, train: dict[str, int], test: dict[str, int]) -> Path:
    image_tree(root / "train", train, mode="L")
    for k, (name, n) in enumerate(test.items()):  # not the training images' pixels, or they count as leaks
        for i in range(n):
            write_image(root / "test" / name / f"{i:03d}.png", pixels(7000 + 100 * k + i, mode="L"))
    return root


# --- train/ and test/ folders -------------------------------------------------------------------------


def test_part_selects_train_or_test_of_a_nested_folder(tmp_path: Path) -> None:
    root = _nested(tmp_path / "pets", {"cat": 3, "dog": 2}, {"cat": 1, "dog": 1})
    train = load_source(SourceSpec(source="folder", path=root))
    test = load_source(SourceSpec(source="folder", path=root, part="test"))
    assert len(train) == 5 and len(test) == 2 and train.classes == test.classes == ("cat", "dog")
    assert test.sources[0] == str(root / "test" / "cat" / "000.png")


def test_the_test_part_becomes_the_fixed_test_set_unless_the_suite_names_one(tmp_path: Path) -> None:
    root = _nested(tmp_path / "pets", {"cat": 10, "dog": 10}, {"cat": 2, "dog": 3})
    splits = prepare_data(DatasetSpec(source="folder", path=root))
    assert splits.test_is_fixed and len(splits.test) == 5 and len(splits.train) + len(splits.val) == 20
    write_image(tmp_path / "other" / "cat" / "a.png", pixels(9001, mode="L"))
    write_image(tmp_path / "other" / "dog" / "a.png", pixels(9002, mode="L"))
    named = prepare_data(DatasetSpec(source="folder", path=root,
                                     test=SourceSpec(source="folder", path=tmp_path / "other")))
    assert len(named.test) == 2


def test_a_plain_class_folder_has_no_automatic_test_set_and_no_test_part(tmp_path: Path) -> None:
    image_tree(tmp_path / "d", {"a": 10, "b": 10}, mode="L")
    splits = prepare_data(DatasetSpec(source="folder", path=tmp_path / "d"))
    assert not splits.test_is_fixed
    with pytest.raises(DataError, match=r"part: test needs a folder holding train/ and test/.*Point path at the test"):
        load_source(SourceSpec(source="folder", path=tmp_path / "d", part="test"))


def test_classes_named_train_and_test_holding_images_are_classes(tmp_path: Path) -> None:
    image_tree(tmp_path / "d", {"train": 2, "test": 2}, mode="L")
    assert load_source(SourceSpec(source="folder", path=tmp_path / "d")).classes == ("test", "train")


def test_training_and_testing_folders_in_any_case(tmp_path: Path) -> None:
    image_tree(tmp_path / "d" / "Training", {"a": 2, "b": 2}, mode="L")
    image_tree(tmp_path / "d" / "Testing", {"a": 1}, mode="L")
    assert len(load_source(SourceSpec(source="folder", path=tmp_path / "d", part="test"))) == 1


# --- infer_source --------------------------------------------------------------------------------------


def test_infer_folders(tmp_path: Path) -> None:
    image_tree(tmp_path / "flat", {"a": 1, "b": 1})
    _nested(tmp_path / "nested", {"a": 1}, {"a": 1})
    assert infer_source(tmp_path / "flat") == SourceSpec(source="folder", path=tmp_path / "flat")
    assert infer_source(tmp_path / "nested").path == tmp_path / "nested"
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="holds 1 images but no class sub-folders"):
        infer_source(tmp_path / "loose")


def test_infer_files(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("label,p1\n0,1\n")
    assert infer_source(tmp_path / "t.csv") == SourceSpec(source="pixel_csv", path=tmp_path / "t.csv")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 2)), y=np.zeros(2))
    assert infer_source(tmp_path / "d.npz").source == "npz"


def test_infer_json_reads_the_fields_from_the_first_record(tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels(0, (4, 4), "L")).save(buf, format="PNG")
    photo = base64.b64encode(buf.getvalue()).decode()
    (tmp_path / "a.jsonl").write_text("\n" + json.dumps({"photo": photo, "class": "cat"}) + "\n")
    assert infer_source(tmp_path / "a.jsonl").fields == JsonFields(image="photo", label="class")
    records = [{"px": [[1, 2], [3, 4]], "target": 1}] + [{"px": [[0, 0], [0, 0]], "target": 0}] * 3000
    (tmp_path / "b.json").write_text(json.dumps(records))  # larger than the first read: parsed in pieces
    assert infer_source(tmp_path / "b.json").fields == JsonFields(pixels="px", label="target")
    (tmp_path / "c.json").write_text(json.dumps([{"w": 1.5, "h": 2, "name": "x", "y": "s"}]))
    assert infer_source(tmp_path / "c.json").fields == JsonFields(features=["w", "h"], label="y")
    (tmp_path / "d.json").write_text(json.dumps({"records": []}))
    with pytest.raises(DataError, match="does not start with a list of records"):
        infer_source(tmp_path / "d.json")


@pytest.mark.parametrize(
    ("samples", "labels"),
    [("x.npy", "y.npy"), ("X.npy", "y.npy"), ("images.npy", "labels.npy"), ("x_train.npy", "y_train.npy"),
     ("train_images.npy", "train_labels.npy")],
)
def test_infer_npy_finds_the_labels_beside_it(tmp_path: Path, samples: str, labels: str) -> None:
    np.save(tmp_path / samples, np.zeros((2, 2)))
    np.save(tmp_path / labels, np.zeros(2))
    expected = SourceSpec(source="npy", path=tmp_path / samples, labels=tmp_path / labels)
    assert infer_source(tmp_path / samples) == expected
    assert infer_source(tmp_path / labels) == expected  # given the labels: the samples are found too


def test_infer_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    np.save(tmp_path / "alone.npy", np.zeros(2))
    with pytest.raises(DataError, match=r"found no labels file beside .*alone\.npy"):
        infer_source(tmp_path / "alone.npy")
    for name, message in [("a.txt", r"not a kind of data practica reads \(\.txt\).*a pixel CSV \(\.csv\)"),
                          ("a.tar.gz", "is an archive; unpack it first"),
                          ("a.png", "is a single image"),
                          ("missing.csv", "does not exist")]:
        if name != "missing.csv":
            (tmp_path / name).write_text("x")
        with pytest.raises(DataError, match=message):
            infer_source(tmp_path / name)


# --- suite fields -------------------------------------------------------------------------------------


def _suite(dataset: dict) -> dict:
    return {"name": "s", "dataset": dataset,
            "experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}}],
            "evaluation": {"latency_samples": 5, "throughput_batch": 8}}


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"source": "folder", "path": "d", "labels": "y.npy"},
         "dataset: 'labels' applies to source 'npy' only, not 'folder' "
         "(a folder's classes are its sub-folder names); remove it"),
        ({"source": "npy", "path": "x.npy"}, "dataset: source 'npy' needs 'labels'"),
        ({"source": "json", "path": "a.json", "label_column": "c"},
         "'label_column' applies to source 'pixel_csv' and 'text' only, not 'json' "
         "(a JSON record's label field is fields: {label: NAME})"),
        ({"source": "npz", "path": "a.npz", "image_shape": [2, 2, 1]},
         "'image_shape' applies to source 'pixel_csv' and 'json' only, not 'npz'"),
        ({"source": "folder", "path": "d", "label_names": {0: "a"}},
         "'label_names' applies to source 'npy' and 'pixel_csv' and 'json' only"),
        ({"source": "pixel_csv", "path": "a.csv", "fields": {"label": "x"}},
         "'fields' applies to source 'json' only, not 'pixel_csv'"),
        ({"source": "iris", "image_size": [8, 8]},
         "source 'iris' is a table of numeric features, not images; 'image_size' applies to images only"),
        ({"source": "npz", "path": "a.npz", "part": "test"},
         "part: test applies to sets that come in train and test parts"),
        ({"source": "pixel_csv", "path": "a.csv", "image_shape": [28, 28, 2]},
         "dataset.image_shape[2]: Input should be 1 or 3 (got 2)"),
        ({"source": "pixel_csv", "path": "a.csv", "label_names": {0: "a", 1: "a"}}, "gives the name 'a' to two labels"),
        ({"source": "json", "path": "a.json", "fields": {"image": "i", "features": ["a"]}},
         "fields.image and fields.features both name the sample"),
        ({"source": "json", "path": "a.json", "fields": {"picture": "i"}}, "unknown key 'picture'"),
        ({"source": "digits", "test": {"source": "folder", "path": "t", "labels": "y.npy"}},
         "dataset.test: 'labels' applies to source 'npy'"),
    ],
)
def test_misplaced_or_bad_fields_are_refused_naming_their_source(dataset: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        suite_from_dict(_suite(dataset))
    assert message in str(err.value)


def test_labels_resolve_against_the_suite_file_and_the_resolved_suite_shows_only_what_applies(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(_suite(
        {"source": "npy", "path": "data/x.npy", "labels": "data/y.npy", "label_names": ["no", "yes"]})))
    suite = load_suite(tmp_path / "s.yaml")
    assert suite.dataset.labels == tmp_path / "data" / "y.npy" and suite.dataset.label_names == {0: "no", 1: "yes"}
    dumped = suite.model_dump(mode="json")["dataset"]
    assert "fields" not in dumped and "label_column" not in dumped and dumped["labels"] == str(tmp_path / "data/y.npy")
    assert suite_from_dict(suite.model_dump(mode="json")) == suite  # the resolved suite reads back the same
    folder = suite_from_dict(_suite({"source": "json", "path": "a.json", "fields": {"image": "img"}}))
    assert folder.model_dump(mode="json")["dataset"]["fields"] == {"image": "img"}


# --- each new source through prepare_data --------------------------------------------------------------


def _prepare(dataset: dict, base: Path):
    return prepare_data(suite_from_dict(_suite(dataset), base_dir=base).dataset)


def test_prepare_iris() -> None:
    splits = _prepare({"source": "iris", "split": {"val": 0.2, "test": 0.2}}, Path("."))
    assert splits.train.input_shape == (4,) and splits.classes == ("setosa", "versicolor", "virginica")


def test_prepare_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.stack([pixels(i, (4, 4), "L") for i in range(20)]))
    np.save(tmp_path / "y.npy", np.arange(20) % 2)
    splits = _prepare({"source": "npy", "path": "x.npy", "labels": "y.npy", "label_names": ["even", "odd"]}, tmp_path)
    assert splits.train.input_shape == (1, 4, 4) and splits.classes == ("even", "odd")


def test_prepare_pixel_csv_with_its_own_test_file(tmp_path: Path) -> None:
    def write(name: str, n: int, first: int = 0) -> None:
        rows = [",".join([str(i % 3)] + [str((i * 7 + j) % 256) for j in range(16)])
                for i in range(first, first + n)]
        header = "label," + ",".join(f"pixel{j}" for j in range(16))
        (tmp_path / name).write_text(header + "\n" + "\n".join(rows) + "\n")

    write("train.csv", 30)
    write("test.csv", 6, first=100)  # other rows: a copy of a training row would be a leak, dropped
    splits = _prepare({"source": "pixel_csv", "path": "train.csv", "label_names": {0: "a", 1: "b", 2: "c"},
                       "test": {"source": "pixel_csv", "path": "test.csv", "label_names": {0: "a", 1: "b", 2: "c"}}},
                      tmp_path)
    assert splits.test_is_fixed and len(splits.test) == 6 and splits.train.input_shape == (1, 4, 4)
    assert splits.classes == ("a", "b", "c") and splits.test.sources[0] == "test.csv:row 2"


def test_prepare_json(tmp_path: Path) -> None:
    lines = [json.dumps({"f": [float(i), float(i % 3)], "kind": ["x", "y"][i % 2]}) for i in range(20)]
    (tmp_path / "r.jsonl").write_text("\n".join(lines))
    splits = _prepare({"source": "json", "path": "r.jsonl", "fields": {"features": "f", "label": "kind"}}, tmp_path)
    assert splits.train.input_shape == (2,) and splits.classes == ("x", "y")


def test_prepare_nested_folder_from_a_suite(tmp_path: Path) -> None:
    _nested(tmp_path / "pets", {"cat": 6, "dog": 6}, {"cat": 2, "dog": 2})
    splits = _prepare({"source": "folder", "path": "pets", "image_size": [4, 4]}, tmp_path)
    assert splits.test_is_fixed and splits.test.x.shape == (4, 4, 4, 1)


# --- the shipped examples -----------------------------------------------------------------------------

REPO = Path(__file__).parents[2]
NEW_EXAMPLES = ["iris.yaml", "breast_cancer.yaml", "iris_json.yaml", "sign_mnist.yaml"]


@pytest.mark.parametrize("name", NEW_EXAMPLES)
def test_new_examples_validate_and_their_resolved_suite_reads_back(name: str) -> None:
    from practica.pipeline.rundir import resolved_yaml

    suite = load_suite(REPO / "examples" / name)
    assert suite.experiments
    assert suite_from_dict(yaml.safe_load(resolved_yaml(suite))) == suite
    if name != "sign_mnist.yaml":  # needs a download, so it lives in examples/ only, as cifar10.yaml does
        assert (REPO / "examples" / name).resolve() == REPO / "src" / "practica" / "examples" / name


def test_the_json_example_reads_its_records() -> None:
    suite = load_suite(REPO / "src" / "practica" / "examples" / "iris_json.yaml")
    data = load_source(suite.dataset)
    assert data.x.shape == (150, 4) and data.classes == ("setosa", "versicolor", "virginica")
    assert data.sources[0] == "iris_records.jsonl:line 1" and data.skipped == ()


def test_the_sign_mnist_example_reads_a_kaggle_layout(tmp_path: Path) -> None:
    suite = load_suite(REPO / "examples" / "sign_mnist.yaml")
    assert suite.dataset.label_names[24] == "Y" and suite.dataset.test.label_names == suite.dataset.label_names
    rows = [",".join([str(k)] + ["7"] * 784) for k in (0, 24, 10)]
    (tmp_path / "s.csv").write_text("label," + ",".join(f"pixel{i + 1}" for i in range(784)) + "\n" + "\n".join(rows))
    data = load_source(suite.dataset.model_copy(update={"path": tmp_path / "s.csv"}))
    assert data.x.shape == (3, 28, 28, 1) and data.classes == ("A", "K", "Y")


@pytest.mark.slow
def test_the_iris_example_runs_end_to_end(tmp_path: Path) -> None:
    from practica.pipeline.suite import run_suite

    raw = yaml.safe_load((REPO / "src" / "practica" / "examples" / "iris.yaml").read_text())
    raw["defaults"]["train"]["epochs"] = 3
    raw["evaluation"] = {"latency_samples": 5, "throughput_batch": 16}
    run = run_suite(suite_from_dict(raw), runs_root=tmp_path)
    assert run.decision.chosen in {"mlp", "logistic-regression", "random-forest"}
    assert (run.run_dir / "report.html").is_file()
