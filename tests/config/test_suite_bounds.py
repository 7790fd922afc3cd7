"""Sizes, depths and number kinds are bounded at the edge: a suite that would hang, exhaust memory or
fail mid-run is refused when it is loaded, with one ConfigError naming the key and the limit."""

from __future__ import annotations

import pytest
from tests_support import with_change

from practica.config import load_suite, suite_from_dict
from practica.config.layers import MAX_PARAMS
from practica.data.paths import check_data_paths
from practica.errors import ConfigError, DataError

HEAD = "name: t\ndataset: {source: digits}\n"


def model(**spec) -> tuple[str, dict]:
    return "experiments.0.model", spec


@pytest.mark.parametrize(
    "path, value, expected",
    [
        # Non-finite numbers, wherever they are.
        ("experiments.0.train", {"optimizer": {"lr": float("inf")}}, ["optimizer.lr", "finite number", "inf"]),
        ("experiments.0.train", {"grad_clip": float("nan")}, ["train.grad_clip", "finite number"]),
        ("defaults", {"train": {"optimizer": {"lr": float("inf")}}}, ["defaults.train.optimizer.lr", "finite"]),
        ("selection", {"tolerance": float("inf")}, ["selection.tolerance", "finite"]),
        (*model(sklearn="logistic_regression", params={"C": float("inf")}), ["params.C", "not a finite number"]),
        (*model(sklearn="knn", params={"metric_params": {"p": [1.0, float("nan")]}}), ["params.metric_params.p[1]"]),
        # A boolean is not a number.
        ("experiments.0.train", {"epochs": True}, ["train: 'epochs' takes a number, not a boolean (got True)"]),
        ("experiments.0.train", {"optimizer": {"betas": [True, 0.9]}}, ["optimizer: 'betas' takes a number"]),
        ("dataset", {"source": "digits", "split": {"seed": False}}, ["split: 'seed' takes a number"]),
        ("dataset", {"source": "digits", "image_size": [True, 8]}, ["'image_size' takes a number"]),
        ("dataset", {"source": "digits", "channels": True}, ["'channels' takes a number"]),
        (*model(layers=["flatten", {"dense": True}]), ["layers[1]", "'units' takes a number"]),
        (*model(sklearn="knn", params={"n_neighbors": True}), ["params.n_neighbors", "not a boolean"]),
        (*model(arch="mlp", params={"hidden": [True]}), ["params.hidden of arch 'mlp' must be of type", "[True]"]),
        # Values of the wrong type for an architecture's params.
        (*model(arch="mlp", params={"hidden": "big"}), ["params.hidden of arch 'mlp'", "got 'big'"]),
        (*model(arch="resnet", params={"width": 1.5}), ["params.width of arch 'resnet'", "int"]),
        # Seeds numpy accepts.
        ("dataset", {"source": "digits", "split": {"seed": -1}}, ["dataset.split.seed", "greater than or equal to 0"]),
        ("dataset", {"source": "digits", "split": {"seed": 2**32}}, ["dataset.split.seed", "less than or equal"]),
        ("experiments.0.train", {"seed": -1}, ["train.seed", "greater than or equal to 0"]),
        # Sizes.
        ("evaluation", {"latency_samples": 10**9}, ["evaluation.latency_samples", "100000", "1000000000"]),
        ("evaluation", {"throughput_batch": 10**9}, ["evaluation.throughput_batch", "65536"]),
        (*model(layers=["flatten", {"dense": 10_000_000}]), ["layers[1].dense.units", "65536", "10000000"]),
        (*model(layers=[{"conv": {"filters": 8, "kernel": 1000}}]), ["conv.kernel", "64"]),
        (*model(layers=["flatten", {"dense": 40_000}, {"dense": 40_000}]),
         ["layers[2] (dense)", f"over the limit of {MAX_PARAMS:,}", "GB of fp32 weights"]),
        (*model(arch="mlp", params={"hidden": [60_000, 60_000]}), ["arch 'mlp'", "parameters", f"{MAX_PARAMS:,}"]),
        (*model(arch="resnet", params={"width": 4000}), ["arch 'resnet'", "parameters", "over the limit"]),
        (*model(arch="resnet", params={"depth": 60_002}), ["params.depth of arch 'resnet' is too large", "2,000"]),
        (*model(arch="mlp", params={"hidden": [8] * 5000}), ["params.hidden", "1,000 entries"]),
        (*model(sklearn="random_forest", params={"n_estimators": 10**9}), ["params.n_estimators", "10,000"]),
    ],
)
def test_out_of_bounds_values_are_refused(path, value, expected):
    with pytest.raises(ConfigError) as info:
        suite_from_dict(with_change(path, value))
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


@pytest.mark.parametrize(
    "path, value",
    [
        ("experiments.0.train", {"epochs": 3, "seed": 2**32 - 1, "optimizer": {"lr": 1}}),  # an int for a float
        ("dataset", {"source": "digits", "memmap": True, "split": {"stratify": False}}),  # real booleans
        ("experiments.0.train", {"lookahead": True, "early_stopping": False}),
        *(("experiments.0.model", m) for m in (
            {"arch": "mlp", "params": {"hidden": [64, 32], "dropout": 0, "batchnorm": True}},
            {"arch": "resnet", "params": {"depth": 8, "width": 8}},
            {"arch": "fastnet", "params": {"widths": [8, 16, 16], "tta": 2}},
            {"arch": "keras_cnn", "params": {"dropout": False}},
            {"sklearn": "logistic_regression", "params": {"fit_intercept": False, "C": 0.5}},
            {"layers": [{"conv": 64}, "relu", {"residual": 128}, "global_avgpool", {"dense": 4096}, {"dense": 4096}]},
        )),
    ],
)
def test_values_within_bounds_still_load(path, value):
    suite_from_dict(with_change(path, value))


def write(tmp_path, text: str):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    return f


LAUGHS = (
    "experiments:\n  - name: a\n    model:\n      sklearn: knn\n      params:\n        metric_params:\n"
    "          l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"          l{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: " + "[" * 20_000 + "\n", r"nests values 51 levels deep \(line 1\); a suite nests at most 50"),
        (HEAD + "x: " + "[" * 60 + "]" * 60 + "\n", r"51 levels deep \(line 3\)"),
        (HEAD + LAUGHS, r"holds over 100,000 values once its aliases \(\*name\) are expanded"),
        (HEAD + "x: &r [1, *r]\n", r"alias \*r \(line 3\) stands for a value that contains it"),
        (HEAD + "# " + "x" * 1_100_000 + "\n", r"bytes; a suite file is at most 1,000,000"),
    ],
)
def test_hostile_yaml_is_refused_before_it_is_built(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_suite(write(tmp_path, text))


def test_anchors_and_aliases_of_ordinary_size_still_work(tmp_path):
    suite = load_suite(write(tmp_path, HEAD + (
        "defaults: {train: &t {epochs: 3}}\n"
        "experiments:\n  - {name: a, model: &m {arch: mlp, params: {hidden: [8]}}, train: *t}\n"
        "  - {name: b, model: *m}\n"
    )))
    assert [e.model.params for e in suite.experiments] == [{"hidden": [8]}] * 2
    assert suite.experiments[0].train.epochs == 3


# ------------------------------------------------------------------ data paths, checked without reading


def suite_at(tmp_path, dataset: str):
    text = f"name: t\ndataset: {dataset}\nexperiments: [{{name: a, model: {{arch: mlp}}}}]\n"
    return load_suite(write(tmp_path, text))


@pytest.mark.parametrize(
    "dataset, expected",
    [
        ("{source: folder, path: no/such}", r"dataset.path .*no/such does not exist.*source 'folder' needs a folder"),
        ("{source: folder, path: x.npz}", r"dataset.path .*x.npz is a file, not a folder"),
        ("{source: npz, path: imgs}", r"dataset.path .*imgs is a folder, not a file.*source 'npz' needs a file"),
        ("{source: npz, path: /dev/zero}", r"/dev/zero is not a regular file \(a device, a pipe or a socket\)"),
        ("{source: npy, path: x.npz, labels: y.npy}", r"dataset.labels .*y.npy does not exist"),
        ("{source: mnist, path: x.npz}", r"is a file, not a folder.*source 'mnist'"),
        ("{source: cifar10, path: nope.tar.gz}", r"does not exist.*an archive file or the folder"),
        ("{source: digits, test: {source: npz, path: test.npz}}", r"dataset.test.path .*test.npz does not exist"),
        ("{source: folder, path: imgs, part: test}", r"part: test needs a folder holding train/ and test/"),
    ],
)
def test_data_paths_are_checked_without_reading_them(tmp_path, dataset, expected):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(DataError, match=expected):
        check_data_paths(suite_at(tmp_path, dataset))


def test_data_paths_of_the_right_kind_pass(tmp_path):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    (tmp_path / "x.npz").write_bytes(b"not even an npz: it is not read")
    check_data_paths(suite_at(tmp_path, "{source: folder, path: imgs, test: {source: npz, path: x.npz}}"))
    check_data_paths(suite_at(tmp_path, "{source: cifar10, path: imgs}"))
    check_data_paths(suite_at(tmp_path, "{source: digits}"))
