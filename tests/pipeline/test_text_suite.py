"""A text suite end to end through ``practica run``: a CSV of generated texts, a bag-of-embeddings network, TF-IDF
logistic regression and naive Bayes; a model chosen, the report written with texts (not images) in its error
analysis; and a run killed mid-training resumed to the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from text_corpus import write_csv
from typer.testing import CliRunner

from practica.cli import app
from practica.config.load import suite_from_dict
from practica.pipeline.rundir import RunDir
from practica.pipeline.suite import SilentReporter, run_suite

pytestmark = pytest.mark.slow  # whole suites (~30 s)

SUITE = {
    "name": "texts",
    "dataset": {"source": "text", "path": "texts.csv", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "defaults": {"train": {"epochs": 8, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}}},
    "experiments": [
        {"name": "bag", "model": {"arch": "text_bag", "params": {"dim": 32}}},
        {"name": "lr", "model": {"sklearn": "logistic_regression"}},
        {"name": "nb", "model": {"sklearn": "naive_bayes"}},
    ],
    "evaluation": {"latency_samples": 5, "throughput_batch": 16},
}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-suite")
    write_csv(root / "texts.csv")
    (root / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    result = CliRunner().invoke(app, ["run", str(root / "suite.yaml"), "--runs-dir", str(root / "runs")])
    return root, result


def test_practica_run_trains_every_text_model_and_chooses_one(cli_run) -> None:
    root, result = cli_run
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "model: text_bag(dim=32)" in output and "word tokens" in output
    assert "word token counts (sublinear tf-idf)" in output
    run_dir = next((root / "runs" / "texts").iterdir())
    decision = json.loads((run_dir / "decision.json").read_text())
    assert decision["chosen"] in {"bag", "lr", "nb"}
    for name in ("bag", "lr", "nb"):
        record = json.loads((run_dir / "experiments" / name / "result.json").read_text())
        assert record["status"] == "ok" and record["val"]["figures"]["accuracy"] > 0.7, name


def test_the_report_shows_the_tokenizer_and_mistaken_texts(cli_run) -> None:
    root, _ = cli_run
    run_dir = next((root / "runs" / "texts").iterdir())
    md = (run_dir / "report.md").read_text()
    assert "texts, " in md and "words at the median" in md
    assert "word tokens, " in md and "in the vocabulary, texts cut at" in md
    assert "latency includes the tokenisation" in md
    assert "| Sample | Text | True | Predicted |" in md and "texts.csv:row " in md
    assert "length: Q1 (shortest)" in md
    html = (run_dir / "report.html").read_text()
    assert "Most confident mistakes" in html


class Kill(Exception):
    pass


class KillingReporter(SilentReporter):
    """Progress events that raise in the network's third epoch, as a kill would stop the run."""

    def experiment(self, index, total, exp):
        reporter = self

        class Events:
            def epoch_start(self, epoch, epochs, steps):
                reporter.epoch = epoch

            def step(self, done):
                if reporter.epoch == 3 and done == 2:
                    raise Kill

            def epoch_end(self, record): ...

        return Events() if exp.model.kind != "sklearn" else None


def test_a_killed_text_run_resumes_to_the_same_result(tmp_path) -> None:
    write_csv(tmp_path / "texts.csv")
    raw = {**SUITE, "dataset": {**SUITE["dataset"], "path": str(tmp_path / "texts.csv")},
           "experiments": SUITE["experiments"][:1]}
    suite = suite_from_dict(raw)
    straight = run_suite(suite, runs_root=tmp_path / "straight")
    with pytest.raises(Kill):
        run_suite(suite, runs_root=tmp_path / "killed", reporter=KillingReporter())
    resumed = run_suite(suite, runs_root=tmp_path / "killed", resume=True)
    a, b = (RunDir.find(r, suite, None).experiment("bag") for r in (tmp_path / "straight", tmp_path / "killed"))
    for part in ("val", "test"):
        np.testing.assert_array_equal(getattr(a.read_predictions(), part), getattr(b.read_predictions(), part))
    assert resumed.results[0].evaluation.val.classification.accuracy == \
        straight.results[0].evaluation.val.classification.accuracy
