"""The Python API as a notebook meets it: ``practica.run`` a suite, ``practica.load_bundle`` its model,
the same results and errors as the command line, and ``import practica`` without torch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import practica
from practica.cli import app
from practica.errors import BundleError, ConfigError, InputError

# A baseline and a small network, an epoch each: the smallest suite with a bundle, a decision and a report.
SUITE = {
    "name": "api",
    "dataset": {"source": "digits", "max_samples": 300, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [
        {"name": "lr", "model": {"sklearn": "logistic_regression"}},
        {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}, "train": {"epochs": 1}},
    ],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10, "throughput_batch": 16},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> practica.RunResult:
    return practica.run(SUITE, runs=tmp_path_factory.mktemp("runs"))


def test_import_practica_loads_neither_torch_nor_the_pipeline():
    code = "import sys, practica; print(sorted(m for m in ('torch', 'sklearn', 'onnxruntime', 'practica.pipeline') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert callable(practica.run) and callable(practica.load_bundle)  # loaded on first use
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        practica.runn  # noqa: B018


@pytest.mark.slow
def test_run_a_dict_returns_the_decision_metrics_and_paths(finished):
    assert finished.status == "complete" and finished.chosen in ("lr", "mlp") and not finished.failed
    assert set(finished.metrics) == {"lr", "mlp"} == set(finished.diagnoses)
    assert 0.5 < finished.metrics["lr"].val.classification.accuracy <= 1
    assert finished.metrics["mlp"].cost.params > 0
    assert finished.report_html.is_file() and finished.report_md.is_file()
    assert finished.bundle == finished.run_dir / "bundle" and (finished.bundle / "model.onnx").is_file()
    assert finished.decision.summary and finished.run_dir.name == finished.run_id


@pytest.mark.slow
def test_run_a_path_str_or_path_with_experiments_then_resume_reads_it_back(tmp_path, capsys):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    runs = tmp_path / "runs"
    first = practica.run(str(path), runs=runs, experiments="lr", quiet=False)
    assert set(first.metrics) == {"lr"} and first.chosen == "lr"
    printed = capsys.readouterr().out
    assert "Loading data (digits)" in printed and "[1/1] lr: training" in printed
    metrics = first.run_dir / "experiments" / "lr" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    again = practica.run(path, runs=str(runs), experiments=["lr"], resume=True)  # finished: read, not run
    assert again.run_dir == first.run_dir and again.decision == first.decision
    assert metrics.stat().st_mtime_ns == before
    assert practica.open_run(first.run_dir).metrics == first.metrics


@pytest.mark.slow
def test_load_bundle_predicts_as_practica_predict_does(finished, tmp_path):
    model = practica.load_bundle(str(finished.bundle))
    assert model.task == "classification" and len(model.classes) == 10
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 8, 8, 1), dtype=np.uint8)
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"img{i}.png")
        Image.fromarray(image[:, :, 0]).save(files[-1])
    out = tmp_path / "preds.json"
    result = CliRunner().invoke(app, ["predict", str(finished.bundle), *map(str, files), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cli_rows = json.loads(out.read_text())

    from_files = model.predict(files)
    from_arrays = model.predict(images)
    from_lists = model.predict([{"pixels": image.tolist()} for image in images])
    assert [p.label for p in from_files] == [row["prediction"] for row in cli_rows]
    assert [p.probability for p in from_files] == pytest.approx([row["probability"] for row in cli_rows], abs=1e-6)
    for a, b, c in zip(from_files, from_arrays, from_lists, strict=True):
        assert a.label == b.label == c.label
        assert a.probabilities == pytest.approx(b.probabilities)
        assert a.probabilities == pytest.approx(c.probabilities)
        assert sum(a.probabilities.values()) == pytest.approx(1, abs=1e-4)
        assert a.probability == max(a.probabilities.values())
    one = model.predict(images[0])  # one sample: a list of one
    assert len(one) == 1 and one[0].input == "[0]" and one[0].label == from_arrays[0].label
    assert finished.load_bundle().classes == model.classes


@pytest.mark.slow
def test_predict_names_the_input_that_cannot_be_predicted(finished):
    model = finished.load_bundle()
    with pytest.raises(InputError, match=r"8×8×1"):
        model.predict(np.zeros((2, 4, 4, 1), dtype=np.uint8))
    bad = [{"pixels": [[0] * 8] * 8}, {"pixels": [1, 2, 3]}]
    with pytest.raises(InputError, match=r"\[1\]: 'pixels' has shape 3"):
        model.predict(bad)
    kept = model.predict(bad, errors="keep")
    assert kept[0].label is not None and kept[1].label is None and "'pixels' has shape 3" in kept[1].error
    with pytest.raises(InputError, match="not found|no such|does not exist"):
        model.predict(Path("no/such/image.png"))


@pytest.mark.slow
def test_a_table_bundle_predicts_rows_given_as_dicts_as_practica_predict_does_the_csv(tmp_path):
    path = Path(str(resources.files("practica") / "examples" / "penguins.yaml"))
    result = practica.run(path, runs=tmp_path / "runs", experiments=["logistic-regression"])
    with open(path.with_name("penguins.csv"), newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for _, row in zip(range(6), reader, strict=False)]  # the fourth has NA measurements
    table = tmp_path / "rows.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "preds.json"
    cli = CliRunner().invoke(app, ["predict", str(result.bundle), str(table), "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    expected = [row["prediction"] for row in json.loads(out.read_text())]
    as_dicts = [{k: (None if v == "NA" else v) for k, v in row.items()} for row in rows]  # species: the target, dropped
    assert [p.label for p in result.load_bundle().predict(as_dicts)] == expected
    assert [p.label for p in result.load_bundle().predict(table)] == expected


def test_a_wrong_path_or_a_malformed_dict_raises_the_clis_error(tmp_path):
    with pytest.raises(ConfigError, match="suite file .*nope.yaml not found"):
        practica.run(tmp_path / "nope.yaml")
    malformed = r"(?s)the suite dict is not a valid suite .*experiments\[0\] \(a\).model: unknown arch .resnet21."
    with pytest.raises(ConfigError, match=malformed):
        practica.run({"name": "x", "dataset": {"source": "digits"},
                      "experiments": [{"name": "a", "model": {"arch": "resnet21"}}]})
    with pytest.raises(ConfigError, match="practica.run takes a suite.*got int"):
        practica.run(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no experiment named 'nope'; its experiments are: lr, mlp"):
        practica.run(SUITE, runs=tmp_path, experiments="nope")
    with pytest.raises(BundleError, match="no bundle at"):
        practica.load_bundle(tmp_path / "missing")
    assert not list(tmp_path.iterdir())  # nothing was written
