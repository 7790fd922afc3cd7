"""What a run trusts and what it says: altered files are caught on resume, failures and stopped runs are
recorded as such, one-class data is refused before training, stale staging folders are cleared."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from practica.config import suite_from_dict
from practica.errors import DataError, RunError
from practica.io import checksum_problem
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite


class Notes:
    """A reporter that keeps the stage lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def stage(self, message: str) -> None:
        self.lines.append(message)

    def experiment(self, index, total, exp):
        return None

    def experiment_done(self, exp, trained) -> None: ...

    def run_started(self, run_dir) -> None: ...


@pytest.fixture
def small_suite(tiny_suite) -> dict:
    """One network and one baseline, two epochs: the least a resume has to keep."""
    tiny_suite["defaults"]["train"]["epochs"] = 2
    tiny_suite["experiments"] = [e for e in tiny_suite["experiments"] if e["name"] in ("mlp", "nb")]
    return tiny_suite


def flip_bytes(path, n: int = 8) -> None:
    data = bytearray(path.read_bytes())
    for i in range(n):
        data[-50 - 16 * i] ^= 0xFF
    path.write_bytes(bytes(data))


def status(run) -> dict:
    return json.loads((run.run_dir / "run.json").read_text())


@pytest.mark.slow
def test_resume_retrains_a_finished_experiment_whose_weights_were_altered(small_suite, tmp_path):
    first = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    mlp = first.run_dir / "experiments" / "mlp"
    for name in ("model.safetensors", "checkpoint.safetensors", "result.json"):
        assert (mlp / f"{name}.sha256").is_file(), name
    original = {k: v.clone() for k, v in load_file(mlp / "model.safetensors").items()}  # not a view of the file
    flip_bytes(mlp / "model.safetensors")
    with pytest.raises(RunError, match="model.safetensors does not match its recorded sha256.*--resume"):
        export_run(first.run_dir, "mlp", tmp_path / "exported")

    notes = Notes()
    again = run_suite(suite_from_dict(small_suite), runs_root=tmp_path, resume=True, reporter=notes)
    said = "\n".join(notes.lines)
    assert "mlp: " in said and "model.safetensors does not match its recorded sha256" in said
    assert "training it again" in said and "mlp: already trained, kept" not in said
    assert "nb: already trained, kept" in said
    # Rebuilt from its (intact) checkpoint: the same weights and scores as before the damage.
    rebuilt = load_file(mlp / "model.safetensors")
    assert all((rebuilt[k] == original[k]).all() for k in original)
    assert again.result("mlp").evaluation.val == first.result("mlp").evaluation.val
    assert status(again)["status"] == "complete"


@pytest.mark.slow
def test_resume_starts_afresh_from_an_altered_checkpoint(small_suite, tmp_path):
    first = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    mlp = first.run_dir / "experiments" / "mlp"
    (mlp / "result.json").unlink()  # as if killed before the experiment finished
    flip_bytes(mlp / "checkpoint.safetensors")

    notes = Notes()
    again = run_suite(suite_from_dict(small_suite), runs_root=tmp_path, resume=True, reporter=notes)
    said = "\n".join(notes.lines)
    assert "checkpoint.safetensors does not match its recorded sha256" in said and "starts afresh" in said
    assert again.result("mlp").history.epochs[-1].val_loss == first.result("mlp").history.epochs[-1].val_loss


@pytest.mark.slow
def test_a_failed_experiment_keeps_its_traceback_and_marks_the_run_partial(small_suite, tmp_path):
    # max_samples below the class count cannot be stratified by the baseline's subset: a ValueError
    # from scikit-learn, not one practica raises on purpose, so its traceback is kept.
    small_suite["experiments"].append({"name": "tree", "model": {"sklearn": "decision_tree"},
                                       "train": {"max_samples": 5}})
    run = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    tree = run.result("tree")
    trace = run.run_dir / "experiments" / "tree" / "traceback.txt"
    assert tree.status == "failed" and f"traceback in {trace}" in tree.error
    assert trace.read_text().startswith("Traceback (most recent call last)")
    assert run.failed == ("tree",) and run.status == "partial"
    assert status(run)["status"] == "partial" and status(run)["failed_experiments"] == ["tree"]
    assert (run.run_dir / "report.html").is_file()
    notes = Notes()  # a resume tries a failed experiment again (here it fails the same way)
    run_suite(suite_from_dict(small_suite), runs_root=tmp_path, resume=True, reporter=notes)
    assert any(line.startswith("[3/3] tree: failed last time (ValueError") for line in notes.lines)


def test_no_model_meeting_the_policy_marks_the_run_failed(small_suite, tmp_path):
    small_suite["experiments"] = [e for e in small_suite["experiments"] if e["name"] == "nb"]
    small_suite["selection"]["constraints"] = {"params": 1}
    run = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    assert run.decision.chosen is None and run.failed == ()
    assert status(run)["status"] == "failed" and run.bundle is None
    assert (run.run_dir / "report.html").is_file()


def test_an_error_after_the_run_began_is_recorded_not_left_running(small_suite, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("practica.pipeline.experiment.train_experiment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    (run_json,) = (tmp_path / "tiny").glob("*/run.json")
    assert json.loads(run_json.read_text())["status"] == "interrupted"


@pytest.mark.parametrize(("layout", "names"), [("folder", "'cat'"), ("csv", "'yes'")])
def test_one_class_is_refused_before_training(tmp_path, layout, names):
    from PIL import Image

    if layout == "folder":
        for i in range(12):
            (tmp_path / "images" / "cat").mkdir(parents=True, exist_ok=True)
            Image.new("L", (8, 8), color=i * 20).save(tmp_path / "images" / "cat" / f"{i}.png")
        dataset = {"source": "folder", "path": str(tmp_path / "images")}
    else:
        rows = "".join(f"{i},{i % 3},yes\n" for i in range(30))
        (tmp_path / "t.csv").write_text("a,b,answer\n" + rows)
        dataset = {"source": "csv", "path": str(tmp_path / "t.csv"), "target": "answer"}
    suite = {"name": "one", "dataset": dataset, "defaults": {"train": {"epochs": 1}},
             "experiments": [{"name": "mlp", "model": {"arch": "mlp"}}]}
    with pytest.raises(DataError, match=f"one class only, {names}.*Add samples of another class"):
        run_suite(suite_from_dict(suite), runs_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_resume_removes_the_staging_folders_a_killed_export_left(small_suite, tmp_path):
    first = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    stale = [first.run_dir / ".bundle.k1ll3d_x", first.run_dir / ".bundle-mlp.abcdefgh"]
    kept = [first.run_dir / ".bundle.notes", first.run_dir / "bundle.k1ll3d_x"]  # not names practica makes
    for folder in stale + kept:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    notes = Notes()
    run_suite(suite_from_dict(small_suite), runs_root=tmp_path, resume=True, reporter=notes)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert any(".bundle.k1ll3d_x" in line for line in notes.lines)


def test_every_validation_and_test_output_is_kept_and_a_damaged_file_recomputed_on_resume(small_suite, tmp_path):
    run = run_suite(suite_from_dict(small_suite), runs_root=tmp_path)
    for result in run.results:
        kept = result.predictions
        assert kept is not None
        assert kept.val.shape == (len(run.splits.val), len(run.splits.classes))
        assert kept.test.shape == (len(run.splits.test), len(run.splits.classes))
        accuracy = float((kept.val.argmax(1) == run.splits.val.y).mean())
        assert accuracy == pytest.approx(result.evaluation.val.classification.accuracy)
    stored = run.run_dir / "experiments" / "mlp" / "predictions.npz"
    before = run.result("mlp").predictions
    flip_bytes(stored)
    again = run_suite(suite_from_dict(small_suite), runs_root=tmp_path, resume=True, run_id=run.run_id)
    # The weights still match, so the experiment is kept; its outputs are computed again, the same.
    assert again.result("mlp").predictions.val == pytest.approx(before.val, abs=1e-6)
    assert checksum_problem(stored) is None  # and recorded again
