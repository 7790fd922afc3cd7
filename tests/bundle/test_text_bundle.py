"""A text model's bundle: the tokenizer travels with it, and the bundle answers texts as the run's predictor did."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from text_support import text_run

from practica.bundle import load_bundle
from practica.bundle.manifest import write_manifest
from practica.bundle.ood import OodScorer
from practica.data.tokenizer import TextTokenizer
from practica.errors import BundleError


@pytest.mark.parametrize("which", ["text_net_bundle", "text_baseline_bundle"])
def test_a_text_bundle_answers_the_test_texts_as_the_runs_predictor(which, request):
    path = request.getfixturevalue(which)
    run = text_run()
    bundle = load_bundle(path)
    predictor = run.network if which == "text_net_bundle" else run.baseline
    texts = run.splits.test.x
    expected = predictor.outputs(texts)
    np.testing.assert_allclose(bundle.predict_proba(texts), expected, atol=1e-5)
    np.testing.assert_allclose(bundle.predict_proba(list(texts)), expected, atol=1e-5)  # a list of str too
    # tokenised by the caller, the same answer
    np.testing.assert_allclose(bundle.predict_proba(bundle.encode(texts)), expected, atol=1e-5)
    card = bundle.card
    assert card["onnx_parity"]["samples"] == len(texts) and card["onnx_parity"]["max_abs_diff"] <= 1e-5


def test_the_network_bundle_takes_ids_and_gives_its_embedding(text_net_bundle):
    bundle = load_bundle(text_net_bundle)
    tok = text_run().tokenizer
    assert bundle.input.kind == "text" and bundle.input.shape == (tok.max_length,)
    assert bundle.input.text_input == "ids" and bundle.input.vocab_size == tok.vocab_size
    card = bundle.card["input"]
    assert card["onnx_name"] == "ids" and card["onnx_dtype"] == "int64" and card["tokenizer"] == tok.describe()
    assert card["tokenizer_file"] == "tokenizer.json"
    (inp,) = bundle.session.get_inputs()
    assert inp.name == "ids" and inp.type == "tensor(int64)" and inp.shape[1] == tok.max_length
    assert not isinstance(inp.shape[0], int)  # a dynamic batch
    inference = bundle.infer(np.array(["the goal of the match", "bake the bread"], dtype=object))
    assert inference.outputs.shape == (2, 3) and inference.embedding is not None and inference.embedding.shape == (2, 8)
    assert bundle.card["model"]["kind"] == "network"
    assert {p.name for p in text_net_bundle.iterdir()} >= {"tokenizer.json", "weights.safetensors", "model.onnx"}


def test_the_baseline_bundle_takes_token_counts(text_baseline_bundle):
    bundle = load_bundle(text_baseline_bundle)
    tok = text_run().tokenizer
    assert bundle.input.text_input == "counts" and bundle.input.model_shape == (tok.vocab_size,)
    (inp,) = bundle.session.get_inputs()
    assert inp.name == "counts" and inp.type == "tensor(float)" and inp.shape[1] == tok.vocab_size
    assert bundle.infer(["a laptop with a bug"]).embedding is None
    assert "weights.safetensors" not in {p.name for p in text_baseline_bundle.iterdir()}


@pytest.mark.parametrize("which", ["text_net_bundle", "text_baseline_bundle"])
def test_the_tokenizer_is_in_the_bundle_its_manifest_and_its_card(which, request):
    path = request.getfixturevalue(which)
    bundle = load_bundle(path)
    tok = text_run().tokenizer
    assert "tokenizer.json" in bundle.sha256  # checked on every load
    stored = TextTokenizer.from_dict(json.loads((path / "tokenizer.json").read_text()))
    texts = list(text_run().splits.test.x)
    np.testing.assert_array_equal(stored.encode(texts), tok.encode(texts))
    assert bundle.tokenizer is not None and bundle.tokenizer.describe() == tok.describe()


def test_ood_on_text(text_net_bundle, text_baseline_bundle):
    """A network's embedding distance and a baseline's token counts (on principal components) both score texts;
    a text of words the model never saw scores higher than the test texts."""
    run = text_run()
    odd = ["zebra quantum violin glacier", "xylophone nebula tundra"]
    for path, features in ((text_net_bundle, "penultimate-layer features"), (text_baseline_bundle, "token counts")):
        bundle = load_bundle(path)
        scorer = OodScorer.from_bundle(bundle)
        assert scorer is not None and features in bundle.card["ood"]["features"]
        test_x = bundle.encode(run.splits.test.x)
        usual = scorer.score(test_x, bundle.infer(test_x).embedding).scores
        odd_x = bundle.encode(odd)
        unusual = scorer.score(odd_x, bundle.infer(odd_x).embedding)
        assert unusual.scores.min() > np.median(usual)
        # words the vocabulary never had: flagged by the unknown-token check, whatever the distance says
        assert unusual.flags.all() and all("unknown to the model's vocabulary" in r for r in unusual.reasons)
        assert "unknown_token_check" in bundle.card["ood"]


def test_a_text_with_a_few_unknown_words_is_not_flagged_for_them(text_net_bundle):
    bundle = load_bundle(text_net_bundle)
    x = bundle.encode(["the team scored a goal in the match zebra"])
    result = OodScorer.from_bundle(bundle).score(x, bundle.infer(x).embedding)
    assert result.reasons[0] is None or "unknown" not in result.reasons[0]


def test_reference_statistics_of_texts(text_net_bundle):
    ref = load_bundle(text_net_bundle).reference()["inputs"]
    run = text_run()
    assert ref["kind"] == "text" and ref["samples"] == len(run.splits.train)
    lengths = [len(t) for t in run.tokenizer.tokens(list(run.splits.train.x))]
    assert ref["token_length_mean"] == pytest.approx(np.mean(lengths))
    assert ref["unknown_rate"] == pytest.approx(run.tokenizer.unknown_rate(list(run.splits.train.x)))
    assert 0 <= ref["val_unknown_rate"] <= 1 and 0 <= ref["cut_rate"] <= 1


@pytest.fixture
def net_copy(text_net_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(text_net_bundle, dst)
    return dst


def _edit(path, name, change):
    data = json.loads((path / name).read_text())
    change(data)
    (path / name).write_text(json.dumps(data))
    write_manifest(path)  # re-signed: only the edit is wrong


def test_a_text_bundle_without_its_tokenizer_is_refused(net_copy):
    (net_copy / "tokenizer.json").unlink()
    write_manifest(net_copy)
    with pytest.raises(BundleError, match="no tokenizer.json"):
        load_bundle(net_copy)


def test_a_tokenizer_that_disagrees_with_the_card_is_refused(net_copy):
    _edit(net_copy, "tokenizer.json", lambda d: d.update(max_length=d["max_length"] + 1))
    with pytest.raises(BundleError, match="the card says"):
        load_bundle(net_copy).predict_proba(["a goal"])


def test_a_tokenizer_of_another_format_is_refused(net_copy):
    _edit(net_copy, "tokenizer.json", lambda d: d.update(format=99))
    with pytest.raises(BundleError, match="format 99"):
        load_bundle(net_copy).tokenizer  # noqa: B018


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["input"].pop("text_input"), "text_input"),
    (lambda d: d["input"].update(onnx_dtype="uint8"), "takes int64"),
    (lambda d: d["input"].update(shape=[4, 4]), "max_length"),
])
def test_a_text_card_with_a_wrong_input_is_refused(net_copy, change, message):
    _edit(net_copy, "bundle.json", change)
    with pytest.raises(BundleError, match=message):
        load_bundle(net_copy)


def test_token_ids_of_the_wrong_length_are_refused(text_net_bundle):
    bundle = load_bundle(text_net_bundle)
    with pytest.raises(BundleError, match="inputs of shape"):
        bundle.predict_proba(np.zeros((1, bundle.input.shape[0] + 1), dtype=np.int64))
