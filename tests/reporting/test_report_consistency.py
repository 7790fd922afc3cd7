"""One quantity, one way of printing it: a real (small) iris case run through ``practica run``, its terminal
output and its report read side by side.

Each test is one class of defect the reports once had: a size in two unit styles, a count that does not
agree with its noun, a train time or accuracy printed differently in the terminal and in the report, a
diagnosis told three times, "no rule fired", advice for another kind of model, an eligible runner-up
called "rejected", a bundle message that names the wrong framework.
"""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from practica.cli import app

SUITE = {
    "schema_version": 1,
    "name": "iris-small",
    "dataset": {"source": "iris", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "defaults": {"train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
                           "early_stopping": False}},
    "experiments": [
        {"name": "mlp-warm", "model": {"arch": "mlp", "params": {"hidden": [16]}},
         "train": {"schedule": {"name": "cosine", "warmup_epochs": 1}}},
        {"name": "mlp-cold", "model": {"arch": "mlp", "params": {"hidden": [16]}},
         "train": {"optimizer": {"name": "sgd", "lr": 1e-6, "momentum": 0.0}}},
        {"name": "logistic-regression", "model": {"sklearn": "logistic_regression"}},
        {"name": "random-forest", "model": {"sklearn": "random_forest", "params": {"n_estimators": 10}}},
    ],
    "selection": {"metric": "val_accuracy", "tolerance": 0.01, "prefer": "latency"},
    "evaluation": {"latency_samples": 20, "throughput_batch": 32},
}
SIZE = re.compile(r"\b(\d[\d,]*(?:\.\d+)?) (B|kB|MB|GB)\b")


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[str, str]:
    """(terminal output, report.md) of one run of SUITE."""
    root = tmp_path_factory.mktemp("consistency")
    suite = root / "iris-small.yaml"
    suite.write_text(yaml.safe_dump(SUITE), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(suite), "--runs-dir", str(root / "runs")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    [report] = (root / "runs").glob("*/*/report.md")
    return result.output, report.read_text(encoding="utf-8")


def section(markdown: str, name: str) -> str:
    """The 'Experiments, one by one' section of ``name``."""
    start = markdown.index(f" {name} (", markdown.index("## 4. Experiments"))
    end = markdown.find("\n### ", start)
    return markdown[start:end if end > 0 else len(markdown)]


pytestmark = pytest.mark.slow


def test_sizes_have_one_unit_style(ran) -> None:
    terminal, markdown = ran
    for text in (terminal, markdown):
        sizes = SIZE.findall(text)
        assert sizes
        for number, unit in sizes:  # the unit puts the number between 1 and 1,000: never 0.117 MB
            assert 1 <= float(number.replace(",", "")) < 1000 or unit == "B", (number, unit)
    assert "0.000" not in markdown


def test_counts_agree_with_their_nouns(ran) -> None:
    _, markdown = ran
    assert "1 warm-up epoch" in markdown and "1 warm-up epochs" not in markdown
    assert not re.search(r"\b1 (epochs|rows|samples|files|classes)\b", markdown)


def test_terminal_and_report_print_the_same_numbers(ran) -> None:
    terminal, markdown = ran
    lines = re.findall(r"val accuracy (\S+), train (\S+), ([^,\n]+)", terminal)
    assert len(lines) == len(SUITE["experiments"])
    for line in lines:
        val, train, seconds = line
        numbers = [s for s in markdown.splitlines() if f"Val accuracy **{val}**" in s]
        assert any(f"Train accuracy **{train}**" in s and f"Train time **{seconds.strip()}**" in s
                   for s in numbers), (line, numbers)
    assert " pts" not in markdown  # point differences read one way: '3.2 points'


def test_the_diagnosis_is_told_once_in_plain_words(ran) -> None:
    _, markdown = ran
    assert "no rule fired" not in markdown and "training time:" not in markdown
    for name in ("mlp-warm", "logistic-regression", "random-forest"):
        text = section(markdown, name)
        assert text.count("**Diagnosis:**") == 1
        finding = re.search(r"^- \*\*\w+\*\*: (.{30})", text, re.MULTILINE)
        assert finding is not None and text.count(finding.group(1)) == 1, text


def test_advice_fits_the_kind_of_model(ran) -> None:
    _, markdown = ran
    assert "average many" not in section(markdown, "random-forest")
    assert "tree depth" not in section(markdown, "logistic-regression")


def test_only_what_the_policy_rules_out_is_rejected(ran) -> None:
    terminal, markdown = ran
    ranking = markdown[markdown.index("## 3. Selection"):markdown.index("## 4. Experiments")]
    for row in re.findall(r"^\| \d+ \| ([\w-]+) \| [^|]+ \| ([^|]+) \|", ranking, re.MULTILINE):
        assert row[1].strip() in ("chosen", "not chosen"), row  # no constraint, no failure: nothing rejected


def test_bundle_message_names_what_the_onnx_was_checked_against(ran) -> None:
    terminal, markdown = ran
    chosen = re.search(r"Production model: ([\w-]+)", markdown)
    assert chosen is not None
    network = chosen.group(1).startswith("mlp")
    message = " ".join(terminal.split())  # the console may wrap it
    assert ("checked against the trained PyTorch network" in message) == network
    assert ("checked against the fitted scikit-learn estimator" in message) == (not network)
