"""The pipeline file: validated once, with errors that name the key and the fix."""

from __future__ import annotations

import pytest
import yaml
from retrain_support import write_pipeline
from typer.testing import CliRunner

from practica.cli import app
from practica.errors import ConfigError
from practica.retrain import load_pipeline
from practica.retrain.config import registry_path


def _edit(path, **changes):
    spec = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_valid_file_runs_the_suite_on_the_new_data(tmp_path):
    path = write_pipeline(tmp_path, data={"source": "digits", "max_samples": 500})
    pipeline = load_pipeline(path)
    assert pipeline.suite.dataset.max_samples == 500  # the suite's dataset replaced by the new data
    assert pipeline.suite.name == "retrain"
    assert pipeline.spec.alias == "production"
    assert pipeline.spec.promotion.min_gain == 0.005 and pipeline.spec.promotion.max_class_regression == 0.02


def test_data_paths_are_relative_to_the_pipeline_file(tmp_path):
    path = write_pipeline(tmp_path / "p", data={"source": "npz", "path": "new/train.npz"})
    assert load_pipeline(path).suite.dataset.path == (tmp_path / "p" / "new" / "train.npz").resolve()


@pytest.mark.parametrize(("changes", "expected"), [
    ({"promotoin": {}}, "unknown key 'promotoin'. Did you mean 'promotion'?"),
    ({"promotion": {"min_gian": 0.01}}, "promotion: unknown key 'min_gian'. Did you mean 'min_gain'?"),
    ({"promotion": {"max_class_regression": 2}}, "promotion.max_class_regression: Input should be less than or "
                                                 "equal to 1"),
    ({"hygiene": {"production_overlap": "drop"}}, "hygiene.production_overlap: Input should be 'exclude' or 'fail'"),
    ({"data": {"sorce": "digits"}}, "data: unknown key 'sorce'. Did you mean 'source'?"),
    ({"data": {"source": "npz"}}, "source 'npz' needs a 'path'"),
    ({"suite": None}, "suite: this key is required"),
    ({"name": "no spaces"}, "name 'no spaces' must start with a letter or digit"),
    ({"schema_version": 2}, "schema_version 2 is not supported"),
])
def test_bad_keys_are_named_with_the_fix(tmp_path, changes, expected):
    path = _edit(write_pipeline(tmp_path), **changes)
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    assert expected in str(err.value)


def test_a_missing_suite_or_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="pipeline file .* not found"):
        load_pipeline(tmp_path / "nope.yaml")
    path = _edit(write_pipeline(tmp_path), suite="missing.yaml")
    with pytest.raises(ConfigError, match=r"suite: suite file .*missing.yaml not found"):
        load_pipeline(path)


def test_a_suite_that_does_not_suit_the_new_data_is_refused(tmp_path):
    path = write_pipeline(tmp_path, data={"source": "diabetes"})  # regression data, a classification metric
    with pytest.raises(ConfigError, match="selection.metric 'val_accuracy' is a classification metric"):
        load_pipeline(path)


def test_regression_data_are_refused(tmp_path):
    (tmp_path / "p").mkdir()
    path = write_pipeline(tmp_path / "p", data={"source": "diabetes"})
    suite = yaml.safe_load((tmp_path / "p" / "suite.yaml").read_text())
    suite["selection"] = {"metric": "val_r2"}
    suite["dataset"] = {"source": "diabetes"}
    suite["experiments"] = [{"name": "ridge", "model": {"sklearn": "ridge"}}]
    (tmp_path / "p" / "suite.yaml").write_text(yaml.safe_dump(suite))
    with pytest.raises(ConfigError, match="the retrain pipeline compares classifiers"):
        load_pipeline(path)


def test_no_yaml_mapping_or_broken_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_pipeline(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="a pipeline file is a mapping"):
        load_pipeline(bad)


def test_the_registry_comes_from_the_file_the_option_or_the_environment(tmp_path, monkeypatch):
    path = _edit(write_pipeline(tmp_path), registry=None)
    monkeypatch.delenv("PRACTICA_REGISTRY", raising=False)
    with pytest.raises(ConfigError, match="no registry: give registry: DIR"):
        registry_path(load_pipeline(path).spec)
    monkeypatch.setenv("PRACTICA_REGISTRY", str(tmp_path / "env-reg"))
    assert registry_path(load_pipeline(path).spec) == tmp_path / "env-reg"
    assert registry_path(load_pipeline(path, registry=tmp_path / "opt").spec) == tmp_path / "opt"


def test_the_cli_prints_the_problem_and_exits_2(tmp_path):
    path = _edit(write_pipeline(tmp_path), promotoin={})
    result = CliRunner().invoke(app, ["pipeline", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'promotoin'" in result.output
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize("text, message", [
    ("name: " + "[" * 20_000 + "\n", r"nests values 51 levels deep \(line 1\); a pipeline nests at most 50"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                                                   for p, c in zip("abcde", "bcdef", strict=True)),
     r"holds over 100,000 values once its aliases \(\*name\) are expanded"),
])
def test_a_pipeline_file_is_read_within_the_suite_files_bounds(tmp_path, text, message):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_pipeline(path)
