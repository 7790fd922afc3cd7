"""``practica predict`` with a text model: .txt files, folders of them, CSV/TSV/JSON(L) with a text column, and
``--text``; the rows agree with the run's own predictor, and every bad input is a row (or a message) saying why."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from cli_support import invoke, said
from text_support import text_run

from practica.bundle import load_bundle
from practica.bundle.inputs import MAX_TEXT_CHARS
from practica.errors import InputError
from practica.prediction import Predictions, write_rows


def rows(bundle_path, *inputs, **options):
    predictions = Predictions(load_bundle(bundle_path), list(inputs), top_k=3, **options)
    return list(predictions), predictions.summary


def write_csv(path, header, records, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(records)
    return path


@pytest.mark.parametrize("which", ["text_net_bundle", "text_baseline_bundle"])
def test_predict_agrees_with_the_runs_predictor_on_the_test_texts(which, request, tmp_path):
    path = request.getfixturevalue(which)
    run = text_run()
    test = run.splits.test
    labels = [run.splits.classes[int(y)] for y in test.y]
    csv_path = write_csv(tmp_path / "test.csv", ["text", "label"], zip(test.x, labels, strict=True))
    got, summary = rows(path, csv_path)
    expected = (run.network if which == "text_net_bundle" else run.baseline).outputs(test.x)
    assert len(got) == len(test) and summary.failed == 0
    for row, probs in zip(got, expected, strict=True):
        by_class = dict(row.top_k)
        np.testing.assert_allclose([by_class[c] for c in run.splits.classes], probs, atol=1e-5)
    assert summary.accuracy == pytest.approx(float((expected.argmax(1) == test.y).mean()))


def test_every_kind_of_text_input(text_net_bundle, tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("The referee stopped the match after the goal.", encoding="utf-8")
    folder = tmp_path / "folder"
    for label, texts in (("sport", ["a goal in the league", "the coach and the team"]), ("food", ["cheese soup"])):
        (folder / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (folder / label / f"{i}.txt").write_text(t, encoding="utf-8")
    (folder / "sport" / "notes.md").write_text("not a text input")  # only .txt files are read
    tsv = write_csv(tmp_path / "t.tsv", ["review", "label"], [["compiler and code", "computers"]], delimiter="\t")
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(json.dumps({"id": "j1", "review": "bread in the oven", "label": "food"}) + "\n\n"
                     + json.dumps("a server in the cloud") + "\n")
    as_json = tmp_path / "t.json"
    as_json.write_text(json.dumps([{"review": "the stadium", "label": 0}]))
    got, summary = rows(text_net_bundle, one, folder, tsv, jsonl, as_json, texts=["a laptop screen"],
                        text_column="review")
    names = [r.input for r in got]
    assert names == ["--text 1", str(one), str(folder / "food" / "0.txt"), str(folder / "sport" / "0.txt"),
                     str(folder / "sport" / "1.txt"), f"{tsv}:row 2", "j1", f"{jsonl}:line 3", f"{as_json}:record 1"]
    assert summary.failed == 0 and summary.predicted == 9
    truth = {r.input: r.true_label for r in got}
    assert truth[str(folder / "food" / "0.txt")] == "food" and truth["j1"] == "food"
    assert truth[f"{as_json}:record 1"] == "sport"  # a class index
    assert summary.labelled == 6 and summary.accuracy is not None
    bundle = load_bundle(text_net_bundle)
    assert got[1].prediction == bundle.classes[int(bundle.predict_proba([one.read_text()]).argmax())]


def test_a_latin1_text_file_is_read(text_net_bundle, tmp_path):
    path = tmp_path / "café.txt"
    path.write_bytes("un café et du pain au four".encode("latin-1"))
    (row,), _ = rows(text_net_bundle, path)
    assert row.error is None and row.prediction is not None


def test_bad_texts_become_rows_with_their_error(text_net_bundle, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    long = tmp_path / "long.txt"
    long.write_text("goal " * (MAX_TEXT_CHARS // 5 + 1))
    table = write_csv(tmp_path / "t.csv", ["text", "label"], [["a goal", "sport"], ["", "food"],
                                                             ["soup", "drinks"], ["bread"]])
    records = tmp_path / "r.jsonl"
    records.write_text('{"body": "x"}\n{"text": 7}\n[1, 2]\nnot json\n')
    got, summary = rows(text_net_bundle, empty, long, table, records)
    errors = {r.input: r.error for r in got}
    assert "the text is empty" in errors[str(empty)]
    assert f"over the limit of {MAX_TEXT_CHARS:,}" in errors[str(long)]
    assert errors[f"{table}:row 2"] is None
    assert "the text is empty" in errors[f"{table}:row 3"]
    assert "'drinks' is neither a class" in errors[f"{table}:row 4"]
    assert errors[f"{table}:row 5"] is None  # a row without its label is predicted, unlabelled
    assert "has no 'text'" in errors[f"{records}:line 1"]
    assert "must be a string, not a number" in errors[f"{records}:line 2"]
    assert "must be an object with 'text', or a string" in errors[f"{records}:line 3"]
    assert "not a JSON record" in errors[f"{records}:line 4"]
    assert summary.predicted == 2 and summary.failed == len(got) - 2 and summary.labelled == 1


def test_a_table_without_the_text_column_says_how_to_name_it(text_net_bundle, tmp_path):
    table = write_csv(tmp_path / "t.csv", ["body", "label"], [["a goal", "sport"]])
    (row,), _ = rows(text_net_bundle, table)
    assert "has no column 'text'" in row.error and "--text-column" in row.error


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "img.png", "not images"),
    (lambda p: p / "data.parquet", "not a kind practica predict reads for a text model"),
    (lambda p: p / "nothing-here", "holds no .txt files"),
])
def test_inputs_a_text_model_cannot_read_are_refused(text_net_bundle, tmp_path, make, message):
    path = make(tmp_path)
    if path.suffix:
        path.write_bytes(b"x")
    else:
        path.mkdir()
    with pytest.raises(InputError, match=message):
        Predictions(load_bundle(text_net_bundle), [path])


def test_an_image_model_refuses_texts(cnn_bundle, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("a goal")
    with pytest.raises(InputError, match="not texts"):
        Predictions(load_bundle(cnn_bundle), [path])
    with pytest.raises(InputError, match="--text is for a text model"):
        Predictions(load_bundle(cnn_bundle), [], texts=["a goal"])


def test_the_cli_predicts_texts_and_writes_them(text_net_bundle, tmp_path):
    result = invoke("predict", text_net_bundle, "--text", "the goal of the match", "--text", "")
    assert result.exit_code == 0, result.output
    assert said(result, "1 predicted, 1 failed", "the text is empty")
    table = write_csv(tmp_path / "t.csv", ["body"], [["soup and bread"]])
    out = tmp_path / "out.json"
    result = invoke("predict", text_net_bundle, table, "--text-column", "body", "--out", out)
    assert result.exit_code == 0, result.output
    (record,) = json.loads(out.read_text())
    assert record["prediction"] == "food" and record["ood"] is not None
    result = invoke("predict", text_net_bundle)
    assert result.exit_code != 0 and said(result, "give at least one input", "--text")


def test_rows_write_as_csv(text_net_bundle, tmp_path):
    got, _ = rows(text_net_bundle, texts=["a goal", "bread"])
    write_rows(got, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith("--text 1,sport")


def test_the_python_api_takes_texts(text_net_bundle, tmp_path):
    import practica

    model = practica.load_bundle(text_net_bundle)
    texts = ["the goal of the match", "bread and soup"]
    expected = load_bundle(text_net_bundle).predict_proba(texts).argmax(1)
    for given in (texts, np.array(texts, dtype=object), [{"text": texts[0], "label": "sport"}, texts[1]]):
        got = model.predict(given)
        assert [p.label for p in got] == [model.classes[i] for i in expected]
    file = tmp_path / "one.txt"
    file.write_text(texts[0])
    assert model.predict(file)[0].label == model.classes[expected[0]]  # a Path is a file
    with pytest.raises(InputError, match=r"\[0\]: the text is empty"):
        model.predict([""])
