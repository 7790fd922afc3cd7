"""The hygiene gate refuses new data that leak, cannot be read, overlap production's training data or have
drifted; it says why in one sentence, records it, trains and registers nothing, and exits 5."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from retrain_support import copy_registry, digits_npz, write_pipeline
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from practica.cli import app
from practica.registry import Registry
from practica.retrain import EXIT_GATE_FAILED, load_pipeline, run_pipeline


def _refused(path, registry=None) -> dict:
    run = run_pipeline(load_pipeline(path))
    record = json.loads((run.path / "pipeline.json").read_text())
    assert record["outcome"] == "gate_failed" and record["exit_code"] == EXIT_GATE_FAILED
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["hygiene"]["status"] == "failed"
    assert all(steps[n]["status"] == "skipped" for n in ("suite", "compare", "register", "promote"))
    assert not (run.path / "suite").exists()  # nothing trained
    if registry is not None:
        assert len(Registry(registry).versions()) == 1  # nothing registered
    return steps["hygiene"]


def test_test_samples_copied_from_training_are_refused(tmp_path):
    train = digits_npz(tmp_path / "train.npz", np.arange(0, 1000))
    test = digits_npz(tmp_path / "test.npz", np.arange(900, 1200))  # 100 copies of training samples
    path = write_pipeline(tmp_path, data={"source": "npz", "path": str(train), "clean": {"leaks": "keep"},
                                          "test": {"source": "npz", "path": str(test)}})
    hygiene = _refused(path)
    assert "copy its train or validation samples" in hygiene["message"]
    assert hygiene["evidence"]["test_leakage"]["samples"] >= 100
    assert not (tmp_path / "registry").exists()


def test_unreadable_files_past_the_threshold_are_refused(tmp_path):
    d = load_digits()
    root = tmp_path / "images"
    for k in range(10):
        (root / str(k)).mkdir(parents=True)
        for i in np.flatnonzero(d.target == k)[:15]:
            Image.fromarray(np.round(d.images[i] * 255 / 16).astype(np.uint8)).save(root / str(k) / f"{i}.png")
    for n in range(3):
        (root / "0" / f"broken{n}.png").write_bytes(b"not a png")
    path = write_pipeline(tmp_path, data={"source": "folder", "path": str(root)})
    hygiene = _refused(path)
    assert "3 files of the new data cannot be read" in hygiene["message"]
    assert "hygiene.max_broken" in hygiene["message"]


@pytest.mark.slow
def test_test_samples_production_trained_on_are_refused_when_asked(strong_registry, tmp_path):
    registry = copy_registry(strong_registry, tmp_path)
    hygiene = _refused(write_pipeline(tmp_path, registry=registry, hygiene={"production_overlap": "fail"}),
                       registry)
    assert "were in the production model's training data" in hygiene["message"]
    assert hygiene["evidence"]["production_overlap"]["count"] > 0


@pytest.mark.slow
def test_too_few_fresh_test_samples_are_refused(strong_registry, tmp_path):
    registry = copy_registry(strong_registry, tmp_path)
    hygiene = _refused(write_pipeline(tmp_path, registry=registry, hygiene={"min_test_samples": 400}), registry)
    assert "fresh test samples remain" in hygiene["message"]


@pytest.mark.slow
def test_drifted_data_are_refused(strong_registry, tmp_path):
    registry = copy_registry(strong_registry, tmp_path)
    inverted = digits_npz(tmp_path / "inverted.npz", np.arange(1797), invert=True)
    path = write_pipeline(tmp_path, registry=registry, data={"source": "npz", "path": str(inverted)})
    hygiene = _refused(path, registry)
    assert "drifted from the production model's training data" in hygiene["message"]
    assert hygiene["evidence"]["drift"]["largest"]["psi"] > 1.0
    assert hygiene["evidence"]["production_overlap"]["method"] == "not checkable"


def test_the_cli_says_why_and_exits_5(tmp_path):
    train = digits_npz(tmp_path / "train.npz", np.arange(0, 1000))
    test = digits_npz(tmp_path / "test.npz", np.arange(900, 1200))
    path = write_pipeline(tmp_path, data={"source": "npz", "path": str(train), "clean": {"leaks": "keep"},
                                          "test": {"source": "npz", "path": str(test)}})
    result = CliRunner().invoke(app, ["pipeline", str(path), "--quiet"])
    assert result.exit_code == EXIT_GATE_FAILED, result.output
    assert "gate failed" in result.output and "the new data were refused" in result.output
    assert "pipeline.json" in result.output


def _png_folder(root, indices_per_class: dict[int, list[int]]):
    d = load_digits()
    for k, indices in indices_per_class.items():
        (root / str(k)).mkdir(parents=True, exist_ok=True)
        for i in indices:
            Image.fromarray(np.round(d.images[i] * 255 / 16).astype(np.uint8)).save(root / str(k) / f"{i}.png")
    return root


@pytest.mark.slow
def test_files_production_trained_on_are_found_by_their_sha256(tmp_path):
    from retrain_support import first_run

    d = load_digits()
    per_class = {k: list(np.flatnonzero(d.target == k)) for k in range(10)}
    old = _png_folder(tmp_path / "old", {k: v[:20] for k, v in per_class.items()})
    registry = first_run(tmp_path / "first", "naive_bayes", {"source": "folder", "path": str(old)})
    new = _png_folder(tmp_path / "new", {k: v[20:40] for k, v in per_class.items()})
    for k in range(10):  # production's files again, under other names: the same bytes
        for f in sorted((old / str(k)).iterdir())[:10]:
            (new / str(k) / f"copy-{f.name}").write_bytes(f.read_bytes())
    path = write_pipeline(tmp_path / "second", registry=registry, data={"source": "folder", "path": str(new)},
                          hygiene={"production_overlap": "fail"})
    hygiene = _refused(path, registry)
    overlap = hygiene["evidence"]["production_overlap"]
    assert overlap["method"] == "sha256 of files" and overlap["count"] > 0
    assert all("copy-" in name for name in overlap["examples"])
